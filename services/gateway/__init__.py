"""Gateway: REST, SSE and the HTMX UI (Litestar)."""
