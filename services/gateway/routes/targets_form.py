"""Turn the Targets add/edit form into a target spec (and a spec back into form values)."""

from __future__ import annotations

from typing import Any

FLOATS = ("interval_s", "timeout_s", "degraded_ms", "budget_daily_usd", "budget_monthly_usd",
          "slow_query_ms")  # fmt: skip
INTS = ("page_size", "max_pages", "max_tables")
TEXTS = ("id", "name", "kind", "url", "method", "body_match", "secret_env", "secret_key", "model",
         "usage_file")  # fmt: skip
CHECKS = ("enabled", "verify_tls", "completion")


def _number(form: dict[str, str], key: str, kind: type[float] | type[int]) -> float | int | None:
    raw = form.get(key, "").strip()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{key}: expected a number, got {raw!r}") from None


def parse_headers(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if ":" not in line:
            raise ValueError(f"headers line {number}: expected 'Name: value'")
        name, value = line.split(":", 1)
        headers[name.strip()] = value.strip()
    return headers


def parse_prices(text: str) -> dict[str, dict[str, float]]:
    """Lines ``model = prompt / completion`` in USD per million tokens."""
    prices: dict[str, dict[str, float]] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            model, rest = line.split("=", 1)
            prompt, completion = rest.split("/", 1)
            prices[model.strip()] = {
                "prompt_per_mtok": float(prompt),
                "completion_per_mtok": float(completion),
            }
        except ValueError:
            raise ValueError(
                f"prices line {number}: expected 'model = prompt / completion' (USD per 1M tokens)"
            ) from None
    return prices


def form_to_spec(form: dict[str, str]) -> dict[str, Any]:
    """A spec dict from the form; ValueError names the field. Empty fields keep defaults."""
    spec: dict[str, Any] = {}
    for key in TEXTS:
        value = form.get(key, "").strip()
        if value or key in ("id", "kind", "url"):
            spec[key] = value
    for key in FLOATS:
        number = _number(form, key, float)
        if number is not None:
            spec[key] = number
    for key in INTS:
        number = _number(form, key, int)
        if number is not None:
            spec[key] = number
    for key in CHECKS:
        spec[key] = form.get(key) in ("on", "true", "1")
    codes = form.get("expect_status", "").replace(" ", "")
    if codes:
        try:
            spec["expect_status"] = [int(c) for c in codes.split(",") if c]
        except ValueError:
            raise ValueError(
                "expect_status: comma-separated status codes such as 200,204"
            ) from None
    if form.get("headers", "").strip():
        spec["headers"] = parse_headers(form["headers"])
    if form.get("prices", "").strip():
        spec["prices"] = parse_prices(form["prices"])
    return spec


def spec_to_form(spec: dict[str, Any]) -> dict[str, str]:
    """Form values for editing an existing spec (secrets are only names anyway)."""
    values = {
        k: "" if v is None else str(v)
        for k, v in spec.items()
        if not isinstance(v, dict | list | bool)
    }
    for key in CHECKS:
        values[key] = "on" if spec.get(key) else ""
    values["expect_status"] = ",".join(str(c) for c in spec.get("expect_status", []))
    values["headers"] = "\n".join(f"{k}: {v}" for k, v in spec.get("headers", {}).items())
    values["prices"] = "\n".join(
        f"{m} = {p['prompt_per_mtok']:g} / {p['completion_per_mtok']:g}"
        for m, p in spec.get("prices", {}).items()
    )
    return values
