"""Run the alerts service alone: `python -m services.alerts` or `vigil alerts`."""

from services.alerts.service import AlertsService
from services.core.service import run_main


def main(argv: list[str] | None = None) -> None:
    run_main(AlertsService, argv)


if __name__ == "__main__":
    main()
