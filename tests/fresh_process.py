"""A probe run in a fresh Python process: what a user's first ``pytest`` run loads.

The tests of start-up and first use run a small script (``-c``) that starts pytest
in-process and prints one JSON line last; this runs it with none of the outer run's
``PYTEST_*`` variables (an inner xdist worker's or pytester's would change the plugins
loaded) and returns that line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["run_probe"]


def run_probe(script: str, args: list[str], cwd: Path, *, bytecode: bool = True) -> Any:
    """The last stdout line of ``python -c script *args`` in ``cwd``, read as JSON
    (``bytecode=False``: with ``PYTHONDONTWRITEBYTECODE=1``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    if not bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, f"the probe printed nothing:\n{done.stdout}\n{done.stderr}"
    return json.loads(lines[-1])
