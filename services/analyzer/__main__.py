"""Run the analyzer service alone: `python -m services.analyzer` or `vigil analyzer`."""

from services.analyzer.service import AnalyzerService
from services.core.gc_tuning import tune_for_throughput
from services.core.service import run_main


def main(argv: list[str] | None = None) -> None:
    tune_for_throughput()  # a backfill is a stream of rows: services/core/gc_tuning.py
    run_main(AnalyzerService, argv)


if __name__ == "__main__":
    main()
