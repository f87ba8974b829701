# Vigil tasks. Run through `python3 bootstrap.py <task>` on a fresh machine (it makes .venv).

set shell := ["bash", "-uc"]
export PATH := justfile_directory() + "/.venv/bin:" + env_var("PATH")

# List the tasks.
default:
    @just --list

# Start the broker and the four services (Ctrl-C stops everything).
up *ARGS:
    vigil up {{ARGS}}

# Write realistic work-event logs into the watched folder.
demo *ARGS:
    vigil demo {{ARGS}}

# Ruff format check, ruff lint, mypy.
lint:
    ruff format --check services tests bench bootstrap.py
    ruff check services tests bench bootstrap.py
    mypy

# Format the code in place.
fmt:
    ruff format services tests bench bootstrap.py
    ruff check --fix services tests bench bootstrap.py

# Lint, then the whole test suite (real nats-server, SQLite, browser, MQTT).
test *ARGS: lint
    pytest -q -ra {{ARGS}}

# Run every benchmark and rewrite docs/BENCHMARKS.md.
bench *ARGS:
    python -m bench {{ARGS}}

# Print the JSON Schema of every event.
schema *ARGS:
    vigil schema {{ARGS}}
