"""Metric collectors of the ingest service: host, processes, GPU, MQTT bridge, scheduler."""
