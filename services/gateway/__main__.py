"""Run the gateway service alone: `python -m services.gateway` or `vigil gateway`."""

import asyncio
import contextlib
import gc

from services.core.service import run_main
from services.gateway.service import GatewayService


def main(argv: list[str] | None = None) -> None:
    # uvicorn picks uvloop only when it creates the loop; here Vigil's runner does, so the
    # gateway asks for it itself (SSE fan-out: bench/bench_gateway.py, docs/DECISIONS.md).
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    # SSE fan-out allocates short-lived objects per client and event; full collections
    # walking every imported module then cost milliseconds each, in the middle of a
    # fan-out. Imports never die: move them out of the collector's sight.
    gc.freeze()
    run_main(GatewayService, argv)


if __name__ == "__main__":
    main()
