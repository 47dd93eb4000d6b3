"""Wall time and peak RSS of ingesting one raw orders file, read whole vs in chunks (issue 19).

Each run is a fresh child process with its own empty data folder; it reports its own
peak RSS (``ru_maxrss``), which includes importing pandas, GX and DuckDB. Prints one line per mode.

    .venv/bin/python bench/chunked_ingest.py [--file PATH] [--chunk-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mercato.settings import real_data_path

CHILD = """
import json, resource, sys, time
from pathlib import Path
from mercato.settings import get_settings
from warehouse import landing
settings = get_settings(); settings.ensure_dirs()
start = time.perf_counter()
result = landing.ingest_file(settings, Path(sys.argv[1]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": time.perf_counter() - start, "rows": result.rows, "peak": peak}))
"""


def run(path: Path, chunk_rows: int) -> dict[str, float]:
    """Ingest ``path`` in a child with ``MERCATO_INGEST_CHUNK_ROWS=chunk_rows``."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "MERCATO_HOME": home, "MERCATO_INGEST_CHUNK_ROWS": str(chunk_rows)}
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"ingest failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["process_seconds"] = wall
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=real_data_path())
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    args = parser.parse_args()
    if not args.file.exists():
        raise SystemExit(f"{args.file} not found")
    for mode in ("chunked", "whole"):
        rows = 10**12 if mode == "whole" else args.chunk_rows
        figures = run(args.file, rows)
        print(
            f"{mode:8s} chunk_rows={'-' if mode == 'whole' else rows:>8} rows={figures['rows']:,} "
            f"ingest {figures['seconds']:.1f} s (process {figures['process_seconds']:.1f} s), "
            f"peak RSS {figures['peak']:.0f} MB"
        )


if __name__ == "__main__":
    main()
