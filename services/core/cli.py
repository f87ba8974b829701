"""The ``vigil`` command: up, one service, status, schema, demo (backup/restore join later)."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any

SERVICE_COMMANDS = ("ingest", "analyzer", "alerts", "gateway")
BUILT_IN = ("up", *SERVICE_COMMANDS, "status", "schema", "demo")


def _columns() -> int:
    """The terminal's width as shutil.get_terminal_size() gives it (COLUMNS, else the tty)."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    """argparse sized without shutil (whose bz2/lzma imports are 0.5 MB of `vigil up`)."""

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=_columns() - 2)  # type: ignore[call-arg]


def _parser(extras: bool = True) -> argparse.ArgumentParser:
    parser = _Parser(prog="vigil", description="Vigil operations monitor")
    common = _Parser(add_help=False)
    common.add_argument(
        "--config", help="path to vigil.toml (default ./vigil.toml or $VIGIL_CONFIG)"
    )
    common.add_argument("--log-level", help="debug, info, warning or error")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", parents=[common], help="start the broker and all services")
    for name in SERVICE_COMMANDS:
        sub.add_parser(name, parents=[common], help=f"run the {name} service alone")
    sub.add_parser("status", parents=[common], help="health of each service, asked over NATS")
    schema = sub.add_parser("schema", parents=[common], help="print the JSON Schema of events")
    schema.add_argument("name", nargs="?", help="event name, e.g. WorkBatch or work_batch")
    demo = sub.add_parser("demo", parents=[common], help="write realistic work logs, live")
    demo.add_argument("--rate", type=float, default=2.0, help="rows per second (default 2)")
    demo.add_argument("--duration", type=float, default=0.0, help="seconds; 0 = until Ctrl-C")
    demo.add_argument("--folder", help="target folder (default: the first work source's path)")
    demo.add_argument("--seed", type=int, default=None)
    for extra in _extra_commands() if extras else []:
        extra.add_to(sub, common)
    return parser


def _extra_commands() -> list[Any]:
    """Commands contributed by other modules (backup/restore) when present."""
    found = []
    for module in ("services.core.backup",):
        try:
            found.append(importlib.import_module(module))
        except ImportError:
            continue
    return found


def _find_event(name: str) -> Any:
    from services.core import contracts

    wanted = name.lower().replace("-", "_")
    for kind in contracts.EVENT_TYPES:
        tag = contracts.schema_tag(kind)
        short = tag.split(".", 1)[1].split("/")[0]
        if wanted in {kind.__name__.lower(), short, tag}:
            return kind
    return None


def cmd_schema(name: str | None) -> int:
    import msgspec

    from services.core import contracts

    if name:
        kind = _find_event(name)
        if kind is None:
            names = ", ".join(k.__name__ for k in contracts.EVENT_TYPES)
            print(f"vigil schema: unknown event '{name}'; known: {names}", file=sys.stderr)
            return 2
        schema = contracts.json_schema(kind)
    else:
        schema = contracts.json_schema()
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(schema), indent=2).decode() + "\n")
    return 0


async def _status(settings: Any) -> int:
    from services.core import contracts
    from services.core.bus import Bus, BusUnavailable

    try:
        bus = await Bus.connect(settings.nats, "status", deadline_s=3.0)
    except BusUnavailable as exc:
        print(f"nats      DOWN  {exc}")
        return 1
    worst = 0
    async with bus:
        print(f"nats      up    {', '.join(settings.nats.servers)}")
        for name in SERVICE_COMMANDS:
            try:
                raw = await bus.request(contracts.api(name, "health"), {}, timeout=1.5)
                health = bus.codec.decode_as(raw, contracts.ServiceHealth)
                extra = " ".join(f"{k}={v}" for k, v in health.detail.items())
                print(f"{name:<9} up    pid={health.pid} uptime={health.uptime_s:.0f}s {extra}")
            except Exception as exc:
                worst = 1
                print(f"{name:<9} DOWN  {type(exc).__name__}")
    return worst


def _without_tls() -> None:
    """Keep ssl (libssl + libcrypto, ~4 MB of RSS) out of `vigil up`, which opens no TLS.

    asyncio imports ssl only where it can (``try: import ssl``); a None entry in
    sys.modules makes that import fail, and the supervisor's loop runs without TLS.
    The services are exec'd as fresh interpreters and are not affected.
    """
    sys.modules.setdefault("ssl", None)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    first = next((a for a in argv if not a.startswith("-")), "")
    if first == "up":
        _without_tls()
    # A built-in command parses without importing the extra commands' modules (backup:
    # sqlite3, tarfile, …): `vigil up` is a process of the running stack, kept small.
    args = _parser(extras=first not in BUILT_IN).parse_args(argv)
    command = args.command
    if command == "schema":
        raise SystemExit(cmd_schema(args.name))
    if command in SERVICE_COMMANDS:
        module = importlib.import_module(f"services.{command}.__main__")
        rest = []
        if args.config:
            rest += ["--config", args.config]
        if args.log_level:
            rest += ["--log-level", args.log_level]
        module.main(rest)
        return
    from services.core.startup import load_or_exit

    settings = load_or_exit(
        args, "up" if command == "up" else command, uses_data=command != "status"
    )
    level = args.log_level or settings.log.level
    if command == "up":
        from services.core.supervisor import run_up

        raise SystemExit(run_up(settings, args.config, level))
    if command == "status":
        import asyncio

        raise SystemExit(asyncio.run(_status(settings)))
    if command == "demo":
        from services.core.demo import run_demo

        raise SystemExit(run_demo(settings, args))
    for extra in _extra_commands():
        if extra.handles(command):
            raise SystemExit(extra.run(command, settings, args))
    raise SystemExit(2)


if __name__ == "__main__":
    main()
