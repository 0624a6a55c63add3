"""Sluice streaming agents: the Faust app, its agents, the CLI and the HTTP API."""
