"""Run pytest with the given arguments unless an environment pinned to this openai major
already runs the suite on the same release.

tox's openai-latest environment installs the newest openai release. While that release is
a 3.x (or 2.x), the openai3 (or openai2) environment, made afresh in CI, installs the very
same release and runs the same suite on it: running it twice proves nothing and costs a
full suite. The canaries still run here first (they are what notices a moved private name).
A new major (4.x) has no pinned environment: then the whole suite runs here.
"""

from __future__ import annotations

import subprocess
import sys

import openai

PINNED = {"3": "openai3", "2": "openai2"}


def main(argv: list[str]) -> int:
    version = openai.__version__
    env = PINNED.get(version.split(".", 1)[0])
    if env is not None:
        print(
            f"openai {version} is the newest release and a {version.split('.')[0]}.x: the "
            f"{env} environment runs the suite on it; here only the canaries ran"
        )
        return 0
    return subprocess.call([sys.executable, "-m", "pytest", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
