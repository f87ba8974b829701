"""Alerts: rules, alert state, fatigue controls and notifications."""
