"""Vigil: an event-driven operations monitor over NATS."""
