"""Time and peak memory of raw file -> marts (landing + raw gate, dbt build, mart gate).

Runs each dataset in a fresh child process with its own data folder, so every figure is a cold
run and the peak resident memory (``ru_maxrss``) belongs to that dataset alone:

- ``real``: the UCI Online Retail file (541,909 lines), if present;
- ``synthetic-10x``: generated orders about 10 times its size, written once as Parquet.

Usage::

    python bench/data_layer.py                      # both datasets
    python bench/data_layer.py --only real
    python bench/data_layer.py --scale 2 --workdir /tmp/bench   # smaller synthetic run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from mercato.settings import real_data_path

#: Fixed, so every run of the bench generates the same rows.
END_DATE = date(2026, 6, 30)

REAL_ROWS = 541_909


def run_one(data: Path, home: Path) -> dict[str, object]:
    """Raw -> marts on one file in a fresh data folder; returns seconds per step and peak RSS."""
    os.environ["MERCATO_HOME"] = str(home)
    from mercato.settings import apply_runtime_env, get_settings
    from pipeline import stages
    from warehouse import dbt, landing, reader

    settings = get_settings()
    apply_runtime_env(settings)
    settings.ensure_dirs()
    timings: dict[str, float] = {}
    start = tick = time.perf_counter()
    result = landing.ingest_file(settings, data)
    timings["ingest_and_raw_gate_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    summary = dbt.run_dbt(settings, ["build", "--quiet"])
    timings["dbt_build_s"] = time.perf_counter() - tick
    tick = time.perf_counter()
    stages.validate(settings)
    timings["mart_gate_s"] = time.perf_counter() - tick
    timings["total_s"] = time.perf_counter() - start
    counts = reader.table_counts(settings)
    return {
        "file": str(data),
        "rows": result.rows,
        **{k: round(v, 1) for k, v in timings.items()},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "dbt_tests_passed": summary["tests_passed"],
        "warehouse_mb": round(settings.warehouse_path.stat().st_size / 2**20),
        "row_counts": counts,
    }


def make_synthetic(path: Path, target_rows: int) -> Path:
    """Generated orders with about ``target_rows`` lines over a year (calibrated on a sample)."""
    from warehouse.synthetic import generate_orders

    probe = 2_000
    sample = generate_orders(n_customers=probe, n_products=500, days=365, end_date=END_DATE)
    probe_rows = len(sample)
    per_customer = probe_rows / probe
    n_customers = int(target_rows / per_customer)
    frame = generate_orders(
        n_customers=n_customers, n_products=4_000, days=365, seed=42, end_date=END_DATE
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def _child(data: Path, home: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data), str(home)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["real", "synthetic"], default=None)
    parser.add_argument("--scale", type=float, default=10.0, help="synthetic size / real size")
    parser.add_argument("--workdir", type=Path, default=None, help="where data folders go")
    parser.add_argument("--child", nargs=2, metavar=("DATA", "HOME"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        print(json.dumps(run_one(Path(args.child[0]), Path(args.child[1]))))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mercato-bench-"))
    results: dict[str, dict[str, object]] = {}
    if args.only in (None, "real"):
        real = real_data_path()
        if real.is_file():
            results["real"] = _child(real, workdir / "real")
        else:
            print(f"skipping real data: not found at {real}", file=sys.stderr)
    if args.only in (None, "synthetic"):
        target = int(REAL_ROWS * args.scale)
        data = workdir / f"synthetic_{args.scale:g}x.parquet"
        if not data.is_file():
            tick = time.perf_counter()
            make_synthetic(data, target)
            print(f"generated {data} in {time.perf_counter() - tick:.0f} s", file=sys.stderr)
        results[f"synthetic-{args.scale:g}x"] = _child(data, workdir / f"synthetic_{args.scale:g}x")

    header = (
        f"{'dataset':<16}{'rows':>11}{'ingest+gate s':>15}{'dbt build s':>13}"
        f"{'mart gate s':>13}{'total s':>9}{'peak RSS MB':>13}"
    )
    print(header)
    for name, r in results.items():
        print(
            f"{name:<16}{r['rows']:>11,}{r['ingest_and_raw_gate_s']:>15}{r['dbt_build_s']:>13}"
            f"{r['mart_gate_s']:>13}{r['total_s']:>9}{r['peak_rss_mb']:>13,}"
        )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
