"""Run the ingest service alone: `python -m services.ingest` or `vigil ingest`."""

from services.core.service import run_main
from services.ingest.service import IngestService


def main(argv: list[str] | None = None) -> None:
    run_main(IngestService, argv)


if __name__ == "__main__":
    main()
