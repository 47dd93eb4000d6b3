"""Wall time and peak memory of every stage, raw file to champions, at 1x to 100x the real file.

``1x`` is the real Online Retail file (541,909 lines; ``../shared/data/online_retail/``);
``Nx`` for N > 1 is generated: one synthetic year of orders the size of the real file
(``warehouse.synthetic.generate_orders``, fixed end date and seed) written N times into one
Parquet file, each copy with its own customer ids and invoice numbers, so the customers,
invoices and lines grow N times while the catalogue stays at the real file's size (shops grow
in customers and orders faster than in products). The file is written copy by copy and never
held whole.

Each stage runs in a fresh child process on one data folder (``pipeline.stages``: ingest,
transform, validate, features, then ``train`` for every family that has data), so each
figure is that stage's own wall time and peak resident memory (``ru_maxrss`` of the child and
anything it started). The run's peak is the largest stage peak. Prints one table per scale and
the JSON of all of them.

    python bench/scale.py --scales 1 10 30 100 [--workdir DIR] [--stages ingest transform]
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

#: Fixed, so every run generates the same rows.
END_DATE = date(2011, 12, 10)
REAL_ROWS = 541_909
#: Customer ids and invoice numbers of copy k are offset by k times these.
CUSTOMER_OFFSET = 1_000_000
INVOICE_OFFSET = 100_000_000
STAGES = ("ingest", "transform", "validate", "features", "train")


def base_part(workdir: Path) -> Path:
    """One synthetic year with about as many lines as the real file (made once, kept)."""
    path = workdir / "synthetic_1x_part.parquet"
    if path.is_file():
        return path
    from warehouse.synthetic import generate_orders

    probe = generate_orders(n_customers=2_000, n_products=500, days=365, end_date=END_DATE)
    n_customers = int(REAL_ROWS / (len(probe) / 2_000))
    frame = generate_orders(
        n_customers=n_customers, n_products=4_000, days=365, seed=42, end_date=END_DATE
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def make_scaled(workdir: Path, scale: int) -> Path:
    """``scale`` copies of the base part in one Parquet file, each with its own ids."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = workdir / f"synthetic_{scale}x.parquet"
    if path.is_file():
        return path
    part = pd.read_parquet(base_part(workdir))
    prefix = part["InvoiceNo"].str.extract(r"^(\D*)(\d+)$")
    tmp = path.with_suffix(".tmp")
    writer = None
    try:
        for copy in range(scale):
            out = part.copy()
            out["InvoiceNo"] = prefix[0] + (
                prefix[1].astype("int64") + copy * INVOICE_OFFSET
            ).astype(str)
            out["CustomerID"] = part["CustomerID"] + copy * CUSTOMER_OFFSET
            table = pa.Table.from_pandas(out, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table, row_group_size=500_000)
    finally:
        if writer is not None:
            writer.close()
    tmp.rename(path)
    return path


def run_stage(stage: str, home: Path, data: Path) -> dict[str, object]:
    """One stage in this process; seconds and peak RSS (this process and its children)."""
    os.environ["MERCATO_HOME"] = str(home)
    from mercato.settings import apply_runtime_env, get_settings
    from pipeline import stages

    settings = get_settings()
    apply_runtime_env(settings)
    settings.ensure_dirs()
    out: dict[str, object] = {}
    tick = time.perf_counter()
    if stage == "ingest":
        out["rows"] = sum(b["rows"] for b in stages.ingest(settings, data)["batches"])
    elif stage == "transform":
        stages.transform(settings)
    elif stage == "validate":
        stages.validate(settings)
    elif stage == "features":
        stages.features(settings)
    elif stage.startswith("train_"):
        result = stages.train(settings, stage.removeprefix("train_"))
        out["promoted"] = result.get("promoted")
    else:
        raise ValueError(f"unknown stage {stage}")
    out["seconds"] = round(time.perf_counter() - tick, 1)
    peak_kb = max(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
    )
    out["peak_mb"] = round(peak_kb / 1024)
    return out


def _child(stage: str, home: Path, data: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", stage, str(home), str(data)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"], "seconds": None}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _trained_families(home: Path) -> list[str]:
    """Families with data in this folder (the ones the pipeline trains rather than skips)."""
    done = subprocess.run(
        [sys.executable, __file__, "--families", str(home)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def families_with_data(home: Path) -> list[str]:
    os.environ["MERCATO_HOME"] = str(home)
    from mercato.settings import get_settings
    from models.family import families

    settings = get_settings()
    return [f.name for f in families(settings) if f.has_data(settings)]


def run_scale(scale: int, workdir: Path, stages: list[str]) -> dict[str, object]:
    """Every stage at one scale in a fresh data folder."""
    data = real_data_path() if scale == 1 else make_scaled(workdir, scale)
    if not data.is_file():
        raise SystemExit(f"the real file is missing at {data}; run with --scales 10 ...")
    home = workdir / f"home_{scale}x"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    rows: dict[str, dict[str, object]] = {}
    for stage in stages:
        if stage == "train":
            for family in _trained_families(home):
                rows[f"train_{family}"] = _child(f"train_{family}", home, data)
                print(f"  {scale}x train_{family}: {rows[f'train_{family}']}", file=sys.stderr)
            continue
        rows[stage] = _child(stage, home, data)
        print(f"  {scale}x {stage}: {rows[stage]}", file=sys.stderr)
    seconds = [r["seconds"] for r in rows.values() if isinstance(r.get("seconds"), float | int)]
    peaks = [r["peak_mb"] for r in rows.values() if isinstance(r.get("peak_mb"), int)]
    import pyarrow.parquet as pq

    lines = pq.ParquetFile(data).metadata.num_rows
    total = round(sum(seconds), 1)
    return {
        "scale": scale,
        "file": str(data),
        "lines": lines,
        "stages": rows,
        "total_seconds": total,
        "seconds_per_million_lines": round(total / (lines / 1e6), 1),
        "peak_mb": max(peaks) if peaks else None,
        "failed": [name for name, r in rows.items() if "error" in r],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10, 30, 100])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--families", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        stage, home, data = args.child
        print(json.dumps(run_stage(stage, Path(home), Path(data)), default=str))
        return
    if args.families:
        print(json.dumps(families_with_data(args.families)))
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="mercato-scale-"))
    results = []
    for scale in args.scales:
        result = run_scale(scale, workdir, args.stages)
        results.append(result)
        print(
            f"{scale}x: {result['lines']:,} lines, {result['total_seconds']} s "
            f"({result['seconds_per_million_lines']} s per million lines), "
            f"peak {result['peak_mb']} MB, failed: {result['failed'] or 'none'}"
        )
        for name, row in result["stages"].items():
            print(f"    {name:<28} {row.get('seconds')!s:>8} s {row.get('peak_mb')!s:>8} MB")
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
