"""Run the analyzer service alone: `python -m services.analyzer` or `vigil analyzer`."""

from services.analyzer.service import AnalyzerService
from services.core.service import run_main


def main(argv: list[str] | None = None) -> None:
    run_main(AnalyzerService, argv)


if __name__ == "__main__":
    main()
