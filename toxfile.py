"""tox plugin (loaded by tox from the project root): find pyenv's Python 3.13 when it is not on PATH.

worldforge-ai needs Python >= 3.13, which this project's machines have only under pyenv (whose
``python3.13`` shim may fail). When no working ``python3.13`` is found, the ``py313-worldforge``
environment is skipped by ``skip_missing_interpreters``; this plugin says so loudly, never silently.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

from tox.plugin import impl


def _works(python: str) -> bool:
    try:
        return subprocess.run([python, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"],
                              capture_output=True, timeout=30, check=False).returncode == 0
    except OSError:
        return False


def _find_python313() -> str | None:
    found = shutil.which("python3.13")
    if found and _works(found):
        return os.path.dirname(found)
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    for candidate in sorted(glob.glob(os.path.join(root, "versions", "3.13*", "bin", "python3.13")), reverse=True):
        if _works(candidate):
            return os.path.dirname(candidate)
    return None


@impl
def tox_add_core_config(core_conf, state) -> None:  # noqa: ANN001, ARG001
    directory = _find_python313()
    if directory is None:
        print("toxfile: NO Python 3.13 found (PATH or pyenv): py313-worldforge (real worldforge-ai) and "
              "screenshots will be SKIPPED. Install it with `pyenv install 3.13` to run them.", file=sys.stderr)
        return
    if shutil.which("python3.13") != os.path.join(directory, "python3.13"):
        os.environ["PATH"] = directory + os.pathsep + os.environ.get("PATH", "")
