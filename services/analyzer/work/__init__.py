"""Work-event analytics (DESIGN §3): sessions, KPIs, worker scores, views over SQLite."""
