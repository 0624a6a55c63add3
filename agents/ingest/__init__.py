"""The ingest flow: decode → normalise → clean → de-identify → embed and index, with dead letters and audit."""
