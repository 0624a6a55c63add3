"""`python -m agents.cli …` is `sluice …` (workers are spawned this way, with the venv's interpreter)."""

from agents.cli import main

raise SystemExit(main())
