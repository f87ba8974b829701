"""Soak run (not in CI): the whole stack under a steady demo load for N minutes.

    python -m bench.soak --minutes 30 --rate 50

Prints idle RSS per process, then RSS every sample interval, and at the end the maximum and
the growth of each process between the first and the last third of the run (bounded memory
means no steady growth). Results are appended to docs/SOAK.md.
"""

from __future__ import annotations

import argparse
import datetime
import random
import time
from pathlib import Path

from bench.stack import running_stack
from services.core.demo import DemoWriter

DOC = Path(__file__).resolve().parent.parent / "docs" / "SOAK.md"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=50.0, help="work-log rows per second")
    parser.add_argument("--sample-s", type=float, default=10.0)
    args = parser.parse_args()
    with running_stack() as stack:
        idle = stack.rss_mb()
        print(
            "idle RSS:",
            {k: round(v, 1) for k, v in idle.items()},
            f"total {sum(idle.values()):.0f} MB",
        )
        writer = DemoWriter(stack.watch, random.Random(1))
        samples: list[dict[str, float]] = []
        end = time.monotonic() + args.minutes * 60
        next_sample = time.monotonic()
        while time.monotonic() < end:
            writer.step(datetime.datetime.now())
            time.sleep(1.0 / args.rate)
            if time.monotonic() >= next_sample:
                rss = stack.rss_mb()
                samples.append(rss)
                print(
                    f"{len(samples):4d} rows={writer.rows} total={sum(rss.values()):.0f} MB",
                    flush=True,
                )
                next_sample += args.sample_s
    third = max(1, len(samples) // 3)
    lines = [
        f"## Soak {datetime.datetime.now():%Y-%m-%d %H:%M}: {args.minutes:g} min "
        f"at {args.rate:g} rows/s, {writer.rows} rows",
        "",
        f"Idle RSS total: {sum(idle.values()):.0f} MB (target ≤ 250 MB)",
        "",
        "| process | idle MB | max MB | mean first third | mean last third |",
        "|---|---|---|---|---|",
    ]
    for name in sorted(idle):
        series = [s.get(name, 0.0) for s in samples]
        first = sum(series[:third]) / third
        last = sum(series[-third:]) / third
        lines.append(
            f"| {name} | {idle[name]:.0f} | {max(series):.0f} | {first:.0f} | {last:.0f} |"
        )
    text = "\n".join(lines) + "\n\n"
    print(text)
    with DOC.open("a", encoding="utf-8") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
