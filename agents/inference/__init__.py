"""The inference path: requests → policy → retrieval → prompt → dynamic batcher → generator → responses."""
