"""Training time and peak memory of every recommender at 1x and 10x the real data.

Takes the interactions and item text the pipeline trains on (marts ``fct_order_lines`` and
``dim_products``, built as in ``recsys_compare.py``: ``--home DIR`` where ingest and transform
have run, or ``--data FILE``, default env ``MERCATO_REAL_DATA`` or the shared UCI Online
Retail copy, ingested and transformed into a temporary data folder first). The 10x data set
has ten copies of every customer and every product (ids suffixed ``~1`` ... ``~9``; copy r of
a customer buys copy r of the products), each copy's dates shifted by a random number of days
(-7..7) per customer: the catalogue, the customers and the purchase lines all grow tenfold, and
so does the number of co-bought pairs (block-diagonal: ten shops with the same habits).

Each fit runs in its own child process (``--child``), which loads the frames, records its peak
resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) before and after fitting the
method with its default parameters on all the data (tuning not included), and prints the
fit's wall-clock and CPU seconds (user + system: on a shared machine the wall clock also counts
the waits for a core) and the peaks as JSON. The parent polls the child's ``VmRSS`` and stops
it above ``--max-gb`` (8) or after ``--timeout`` wall-clock seconds (600), reporting the
reason with the CPU seconds and memory the fit had used by then. EASE above
``models.recommenders.DENSE_MAX_ITEMS`` products is replaced by item-kNN: the table says which
algorithm was fitted and what EASE's dense matrices would have needed.

    python bench/recsys_scale.py --out .mercato/bench/recsys_scale
    python bench/recsys_scale.py --home .mercato --scales 1 --methods ease,itemknn
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
from pathlib import Path

import numpy as np
import pandas as pd
from recsys_compare import warehouse_interactions

from mercato.settings import apply_runtime_env, real_data_path
from models import recommenders as rs
from models.recommendation import METHODS, TEXT_CANDIDATES, fit_candidate

ALS = "implicit_als"
#: EASE's dense float64 matrices held at once (Gram, inverse, weights): 24 bytes x n^2.
EASE_BYTES_PER_CELL = 24


def methods() -> list[str]:
    """Every method of the family, and implicit's ALS where the package is installed."""
    names = list(METHODS)
    try:
        import implicit  # noqa: F401
    except ImportError:
        return names
    return [*names, ALS]


def replicate(
    interactions: pd.DataFrame, items: pd.DataFrame, times: int, seed: int = 42
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``times`` copies of the customers and products (copy 0 keeps the original ids)."""
    if times == 1:
        return interactions, items
    rng = np.random.default_rng(seed)
    parts, item_parts = [interactions], [items]
    users = interactions["user_id"].unique()
    for r in range(1, times):
        shift = pd.Series(rng.integers(-7, 8, len(users)), index=users)
        copy = interactions.copy()
        copy["timestamp"] = copy["timestamp"] + pd.to_timedelta(
            copy["user_id"].map(shift).to_numpy(), unit="D"
        )
        copy["user_id"] = copy["user_id"] + f"~{r}"
        copy["item_id"] = copy["item_id"] + f"~{r}"
        parts.append(copy)
        more = items.copy()
        more["item_id"] = more["item_id"] + f"~{r}"
        item_parts.append(more)
    return pd.concat(parts, ignore_index=True), pd.concat(item_parts, ignore_index=True)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _cpu_seconds() -> float:
    """User + system CPU time of this process: what a fit costs whatever else runs."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(method: str, folder: Path) -> int:
    """Fit one method on the frames in ``folder``; print time and peak memory as JSON."""
    interactions = pd.read_parquet(folder / "interactions.parquet")
    items = pd.read_parquet(folder / "items.parquet")
    before = _peak_mb()
    cpu = _cpu_seconds()
    start = time.perf_counter()
    if method == ALS:
        from implicit_als import fit_als

        fit_als(interactions, 42)
        algorithm, switched = ALS, None
    else:
        model = fit_candidate(method, interactions, None, items)
        algorithm, switched = model.algorithm, model.params.get("switched_from")
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": _cpu_seconds() - cpu,
                "peak_mb": _peak_mb(),
                "peak_before_fit_mb": before,
                "algorithm": algorithm,
                "switched_from": switched,
            }
        )
    )
    return 0


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a running process (from /proc; 0 when gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_child(method: str, folder: Path, max_gb: float, timeout: float) -> dict:
    """One fit in a child process, stopped above ``max_gb`` resident or after ``timeout``."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", method, "--dir", str(folder)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    start, stopped, peak = time.perf_counter(), None, 0.0
    while proc.poll() is None:
        time.sleep(0.25)
        rss = _rss_mb(proc.pid)
        peak = max(peak, rss)
        if rss > max_gb * 1024:
            stopped = f"stopped: resident memory above {max_gb:g} GB"
        elif time.perf_counter() - start > timeout:
            stopped = f"stopped: over {timeout:g} s"
        if stopped:
            cpu = _cpu_of(proc.pid)
            proc.kill()
            proc.wait()
            return {
                "skipped": f"{stopped} (after {cpu:.0f} CPU-s, {peak / 1024:.1f} GB resident)",
                "cpu_seconds_when_stopped": cpu,
                "rss_mb_when_stopped": peak,
            }
    out, err = proc.communicate()
    if proc.returncode != 0:
        return {
            "skipped": f"failed: {err.strip().splitlines()[-1] if err.strip() else proc.returncode}"
        }
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="a MERCATO_HOME with marts")
    parser.add_argument("--data", type=Path, default=real_data_path(), help="orders file")
    parser.add_argument("--scales", default="1,10", help="comma-separated replication factors")
    parser.add_argument("--methods", default=None, help="comma-separated (default: all)")
    parser.add_argument("--max-gb", type=float, default=8.0, help="stop a fit above this RSS")
    parser.add_argument("--timeout", type=float, default=600.0, help="stop a fit after (s)")
    parser.add_argument("--out", type=Path, default=None, help="folder for table.md, results.json")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    apply_runtime_env()
    if args.child:
        return child(args.child, args.dir)

    names = args.methods.split(",") if args.methods else methods()
    unknown = sorted(set(names) - set(methods()))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(methods())}")
    interactions, items = warehouse_interactions(args.home, args.data)
    rows = []
    with tempfile.TemporaryDirectory(prefix="mercato-scale-") as tmp:
        for scale in (int(s) for s in args.scales.split(",")):
            data, text = replicate(interactions, items, scale)
            folder = Path(tmp) / f"x{scale}"
            folder.mkdir()
            data.to_parquet(folder / "interactions.parquet", index=False)
            text.to_parquet(folder / "items.parquet", index=False)
            n_items = len(np.unique(np.concatenate([data["item_id"], text["item_id"]])))
            shape = {
                "scale": f"{scale}x",
                "lines": len(data),
                "customers": int(data["user_id"].nunique()),
                "products": n_items,
            }
            print(
                f"{scale}x: {shape['lines']:,} lines, {shape['customers']:,} customers, "
                f"{n_items:,} products",
                flush=True,
            )
            for name in names:
                result = run_child(name, folder, args.max_gb, args.timeout)
                row = {**shape, "method": name, **result}
                if name in ("ease", "hybrid") and not rs.ease_fits(n_items):
                    dense_gb = EASE_BYTES_PER_CELL * n_items**2 / 1e9
                    row["note"] = (
                        f"{n_items:,} > DENSE_MAX_ITEMS {rs.DENSE_MAX_ITEMS:,}: EASE part "
                        f"replaced by item-kNN (dense EASE would need ~{dense_gb:.0f} GB)"
                    )
                if name in TEXT_CANDIDATES:
                    row.setdefault("note", "includes the TF-IDF similarity of the product text")
                rows.append(row)
                print(json.dumps(row), flush=True)
    table = pd.DataFrame(rows)
    shown = table.assign(
        train_s=table.get("seconds"),
        cpu_s=table.get("cpu_seconds"),
        peak_gb=table.get("peak_mb") / 1024.0 if "peak_mb" in table else None,
        before_fit_gb=table.get("peak_before_fit_mb") / 1024.0
        if "peak_before_fit_mb" in table
        else None,
    )
    columns = [
        c
        for c in (
            "scale",
            "products",
            "customers",
            "method",
            "algorithm",
            "train_s",
            "cpu_s",
            "peak_gb",
            "before_fit_gb",
            "skipped",
            "note",
        )
        if c in shown.columns
    ]
    markdown = shown[columns].to_markdown(index=False, floatfmt=".2f")
    print(markdown)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "table.md").write_text(markdown + "\n")
        (args.out / "results.json").write_text(json.dumps(rows, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
