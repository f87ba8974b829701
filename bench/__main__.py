"""``python -m bench [--quick] [NAME ...]``: run the benchmarks, rewrite docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import inspect
import os
import platform
import re
import traceback
from pathlib import Path

import psutil

from bench.common import Figure

HERE = Path(__file__).resolve().parent
DOC = HERE.parent / "docs" / "BENCHMARKS.md"


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def machine() -> str:
    mem = psutil.virtual_memory().total / (1 << 30)
    cpu = platform.processor() or platform.machine()
    return (
        f"{platform.system()} {platform.release()}, {os.cpu_count()} CPUs ({cpu}), "
        f"{mem:.0f} GiB, Python {platform.python_version()}"
    )


def run_one(name: str, quick: bool) -> tuple[list[Figure], str]:
    module = importlib.import_module(f"bench.{name}")
    try:
        result = module.run(quick)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
        return list(result), ""
    except Exception:
        return [], traceback.format_exc(limit=5)


def render(results: dict[str, tuple[list[Figure], str]], quick: bool) -> str:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmarks",
        "",
        f"Written by `just bench` on {now}{' (quick mode)' if quick else ''}.",
        f"Machine: {machine()}.",
        "",
        "Each figure stands beside a baseline measured in the same run on the same machine.",
        "`just bench NAME` re-runs one module and replaces only its section (dated).",
        "",
    ]
    for name, result in results.items():
        lines.append(render_section(name, result, ""))
    return "\n".join(lines)


SECTION_MODULE = re.compile(r"^`bench/(bench_\w+)\.py`", re.MULTILINE)


def merge(existing: str, results: dict[str, tuple[list[Figure], str]], quick: bool) -> str:
    """Replace the sections of the modules just run; keep every other section as it was."""
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"Re-run alone on {now}{' (quick mode)' if quick else ''} on {machine()}."
    head, *chunks = re.split(r"(?m)^(?=## )", existing)
    out = [head]
    done = set()
    for chunk in chunks:
        match = SECTION_MODULE.search(chunk)
        name = match.group(1) if match else ""
        if name in results:
            out.append(render_section(name, results[name], stamp))
            done.add(name)
        else:
            out.append(chunk)
    out += [render_section(n, r, stamp) for n, r in results.items() if n not in done]
    return "".join(out)


def render_section(name: str, result: tuple[list[Figure], str], stamp: str) -> str:
    figures, error = result
    module = importlib.import_module(f"bench.{name}")
    title = (module.__doc__ or name).strip().splitlines()[0]
    lines = [f"## {title}", "", f"`bench/{name}.py`", ""]
    if stamp:
        lines += [stamp, ""]
    if error:
        lines += ["Failed in this run:", "", "```", error.strip(), "```", ""]
        return "\n".join(lines) + "\n"
    lines += [
        "| figure | value | baseline | baseline value | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        base = "—" if f.baseline_value is None else f"{f.baseline_value:,.4g} {f.unit}"
        met = {True: "yes", False: "**no**", None: "—"}[f.met]
        lines.append(
            f"| {f.name} | {f.value:,.4g} {f.unit} | {f.baseline_name} | {base} "
            f"| {f.ratio()} | {f.target or '—'} | {met} |"
        )
    notes = [f"- {f.name}: {f.note}" for f in figures if f.note]
    lines += ["", *notes, ""] if notes else [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help="bench_<name> modules to run (default all)")
    parser.add_argument("--quick", action="store_true", help="smaller inputs, for a smoke run")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    names = [n if n.startswith("bench_") else f"bench_{n}" for n in args.names] or discover()
    results: dict[str, tuple[list[Figure], str]] = {}
    for name in names:
        print(f"== {name}", flush=True)
        figures, error = run_one(name, args.quick)
        results[name] = (figures, error)
        for f in figures:
            base = "—" if f.baseline_value is None else f"{f.baseline_value:,.4g}"
            print(
                f"  {f.name}: {f.value:,.4g} {f.unit}  | {f.baseline_name}: {base}  ({f.ratio()})"
            )
        if error:
            print(error)
    if args.names and DOC.exists():
        text = merge(DOC.read_text(encoding="utf-8"), results, args.quick)
    else:
        text = render(results, args.quick)
    if not args.no_write:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC}")


if __name__ == "__main__":
    main()
