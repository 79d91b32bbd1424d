"""The library type-checks (mypy), so its type hints stay honest."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("mypy", path=str(Path(sys.executable).parent)) is None,
                    reason="mypy is installed by requirements.txt")
def test_attnlib_type_checks():
    mypy = Path(sys.executable).parent / "mypy"
    proc = subprocess.run([str(mypy), "--no-error-summary"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
