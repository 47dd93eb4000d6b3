"""``python -c`` scripts survive pyspark's doctest check (``mercato._main_module_has_a_file``)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def test_a_python_c_script_is_not_stopped_by_pyspark() -> None:
    """pyspark.sql.connect.utils calls sys.exit(0) for a ``__main__`` without a file; once
    ``mercato`` is imported the script carries on (red without the placeholder: the process
    ends with exit 0 before printing)."""
    pytest.importorskip("pyspark", reason="pyspark is installed with the dev group only")
    script = (
        "import mercato\n"
        "try:\n    import pyspark.sql.connect.utils\n"
        "except ImportError:\n    pass  # Spark Connect's extras are not installed\n"
        "print('still running')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "still running" in done.stdout, done.stderr[-2000:]
