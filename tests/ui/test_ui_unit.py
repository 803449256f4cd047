"""The native page's JavaScript unit tests (vitest, ``ui/src/*.test.ts``) run as one pytest test.

So ``./test.sh`` and CI run them with the rest of the suite and report them like any test: a failing JS test
fails this test, with vitest's output. It skips (with the reason) only where Node.js or npm is absent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

UI = Path(__file__).resolve().parents[2] / "ui"


@pytest.mark.timeout(150)
def test_the_ui_unit_tests_pass() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed: the native page's JavaScript unit tests need Node.js")
    assert (UI / "node_modules" / ".bin" / "vitest").exists(), (
        "ui/node_modules has no vitest: run scripts/build_ui.sh (it runs npm ci in ui/ when package-lock.json changed)"
    )
    result = subprocess.run(
        ["npm", "test", "--silent"],
        cwd=UI,
        env={**os.environ, "NO_COLOR": "1", "CI": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"npm test failed in ui/ (exit {result.returncode}):\n{output[-6000:]}"
    passed = re.search(r"Tests\s+(\d+) passed", output)
    assert passed, f"npm test reported no passed tests:\n{output[-3000:]}"
    assert int(passed.group(1)) > 0
