#!/usr/bin/env python3
"""Set-up on a fresh machine with only Python >= 3.11: create .venv, install Vigil, run ``just``.

    python3 bootstrap.py up      # start Vigil (just up)
    python3 bootstrap.py test    # run lint + tests (just test)

The install is redone only when pyproject.toml changed. For ``test`` it also installs
the Debian packages the tests drive for real (chromium, mosquitto, postgresql) when
running as root with apt-get available.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".vigil-installed"
# Debian package -> a file whose presence shows it is installed.
TEST_DEBS = {
    "chromium": "/usr/bin/chromium",
    "mosquitto": "/usr/sbin/mosquitto",
    "mosquitto-clients": "/usr/bin/mosquitto_pub",
    "postgresql": "/usr/lib/postgresql/*/bin/initdb",
    # Korean glyphs in the browser tests' screenshots (the UI is bilingual).
    "fonts-noto-cjk": "/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc",
}


def _say(msg: str) -> None:
    print(f"[bootstrap] {msg}", flush=True)


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        _say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    _say("installing Vigil and its dependencies into .venv (first run takes a minute)")
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(want)


def ensure_test_packages() -> None:
    """Debian packages for the real-browser, MQTT and PostgreSQL tests."""
    missing = [pkg for pkg, marker in TEST_DEBS.items() if not glob.glob(marker)]
    if not missing:
        return
    if not shutil.which("apt-get") or os.geteuid() != 0:
        _say(f"cannot install {', '.join(missing)} (needs root + apt-get); tests needing them skip")
        return
    _say(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        check=True,
        env=env,
    )


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - a clear message for old Pythons
        sys.exit("Vigil needs Python 3.11 or newer")
    args = sys.argv[1:] or ["up"]
    ensure_venv()
    if args[0] in {"test", "ci"}:
        ensure_test_packages()
    just = BIN / "just"
    os.chdir(ROOT)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(VENV),
    }
    os.execve(str(just), [str(just), *args], env)


if __name__ == "__main__":
    main()
