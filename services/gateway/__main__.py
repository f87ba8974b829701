"""Run the gateway service alone: `python -m services.gateway` or `vigil gateway`."""

from services.core.service import run_main
from services.gateway.service import GatewayService


def main(argv: list[str] | None = None) -> None:
    run_main(GatewayService, argv)


if __name__ == "__main__":
    main()
