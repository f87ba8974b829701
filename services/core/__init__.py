"""The shared kernel: event contract, bus, settings, logging, supervisor and CLI."""
