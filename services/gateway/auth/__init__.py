"""Users, sessions, API keys, CSRF, lockout, audit and rate limits of the gateway."""
