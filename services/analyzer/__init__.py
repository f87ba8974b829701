"""Analyzer: work-event KPIs and metric history, kept in its own SQLite database."""
