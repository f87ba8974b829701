"""Monitored targets: HTTP checks, AI-model endpoints, n8n workflows and databases."""
