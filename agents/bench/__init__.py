"""`sluice bench …`: one module per bench (ingest, inference, batching, eos), on shared parts: `stats` (every
figure's statistics), `common` (results, CPU, memory), `workload`, `versions`, `engines` and `load`."""
