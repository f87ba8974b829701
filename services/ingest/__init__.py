"""Ingest: watch files, collect metrics, supervise programs, check targets; publish to NATS."""
