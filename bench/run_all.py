"""Run every benchmark behind the README's figures, one after another, and print them.

`make bench` calls this. It runs the whole pipeline once on the real UCI file (timing each
stage), then the raw-to-marts, feature store, recommender and serving benchmarks, the last two on
the models that run produced. Everything is written below ``--workdir`` (a temporary folder by
default), never into a data folder you use.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mercato.settings import REPO_ROOT, apply_runtime_env, get_settings, real_data_path


def _script(name: str, *args: str) -> None:
    """Run one bench script in its own process, its output going straight to the terminal."""
    print(f"\n=== bench/{name} {' '.join(args)}", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(REPO_ROOT / "bench" / name), *args], check=True)
    print(f"=== bench/{name} took {time.perf_counter() - started:.0f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=real_data_path(), help="real orders file")
    parser.add_argument("--workdir", type=Path, default=None, help="where bench data goes")
    parser.add_argument("--skip", default="", help="comma-separated scripts to skip")
    args = parser.parse_args(argv)
    if not args.data.is_file():
        print(f"real dataset not found at {args.data}: set MERCATO_REAL_DATA or --data")
        return 2
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mercato-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    from pipeline.stages import run_all

    home = workdir / "pipeline"
    settings = dataclasses.replace(get_settings(), home=home, mlflow_tracking_uri="")
    apply_runtime_env(settings)
    settings.ensure_dirs()
    print(f"=== whole pipeline on {args.data} (home {settings.home})", flush=True)
    started = time.perf_counter()
    summary = run_all(settings, args.data)
    stages = ", ".join(
        f"{name} {step['seconds']} s"
        for name, step in summary.items()
        if isinstance(step, dict) and "seconds" in step
    )
    print(f"=== whole pipeline {time.perf_counter() - started:.0f} s ({stages})", flush=True)

    benches = [
        ("data_layer.py", "--workdir", str(workdir / "data_layer")),
        ("features_bench.py", "--data", str(args.data), "--home", str(workdir / "features")),
        ("recsys_compare.py", "--home", str(home)),
        ("serving_bench.py", "--home", str(home)),
    ]
    for name, *script_args in benches:
        if name not in skip:
            _script(name, *script_args)
    print(f"\nall bench data is in {workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
