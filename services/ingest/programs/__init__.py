"""Program supervision in ingest: registry, children, exit detection, restarts, output, commands."""
