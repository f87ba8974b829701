"""A small program for supervision tests: ``child.py MODE [ARGS]``.

Modes: sleep [S] · crash [AFTER_S CODE] · ignore-term · spew LINES · args · marker-exit FILE
"""

from __future__ import annotations

import os
import signal
import sys
import time


def main(argv: list[str]) -> int:
    mode = argv[0] if argv else "sleep"
    if mode == "sleep":
        print(f"child {os.getpid()} sleeping", flush=True)
        time.sleep(float(argv[1]) if len(argv) > 1 else 3600)
        return 0
    if mode == "crash":
        after, code = (float(argv[1]), int(argv[2])) if len(argv) > 2 else (0.0, 3)
        time.sleep(after)
        print("crashing", file=sys.stderr, flush=True)
        return code
    if mode == "marker-exit":  # write the time just before crashing: detection latency
        time.sleep(float(argv[2]) if len(argv) > 2 else 1.5)
        with open(argv[1], "w") as fh:
            fh.write(repr(time.time()))
        os._exit(7)
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ignoring SIGTERM", flush=True)
        while True:
            time.sleep(1)
    if mode == "spew":
        for n in range(int(argv[1])):
            sys.stdout.write(f"line {n:07d} " + "x" * 50 + "\n")
        sys.stdout.flush()
        time.sleep(3600)
        return 0
    if mode == "args":
        for arg in argv[1:]:
            print(f"ARG[{arg}]", flush=True)
        time.sleep(3600)
        return 0
    print(f"unknown mode {mode}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
