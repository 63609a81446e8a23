"""Run code in a fresh Python interpreter and report which frameworks it imported.

Framework isolation can only be checked in a new process: the test session itself has long
imported TensorFlow and torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

FRAMEWORKS = ("tensorflow", "keras", "torch")
_MARKER = "FRAMEWORKS="


def run_fresh(code: str, cwd: Path, timeout: int = 300) -> tuple[str, dict[str, bool]]:
    """Run `code` with a minimal environment in `cwd`; return its stdout and, per framework,
    whether it was imported. Fails the test with the child's stderr when the code fails."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json as _json, sys as _sys
        print({_MARKER!r} + _json.dumps({{n: n in _sys.modules for n in {FRAMEWORKS!r}}}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"KEDRO_DISABLE_TELEMETRY": "1", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    line = [ln for ln in result.stdout.splitlines() if ln.startswith(_MARKER)][-1]
    return result.stdout, json.loads(line.removeprefix(_MARKER))
