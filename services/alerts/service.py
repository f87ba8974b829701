"""The alerts service: evaluates rules and notifies receivers."""

from __future__ import annotations

from services.core.service import VigilService


class AlertsService(VigilService):
    """Evaluates rules over metrics and events; publishes AlertEvents."""

    name = "alerts"

    async def start(self) -> None:
        pass
