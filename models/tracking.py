"""Shared run logging: experiments under ``settings``, data versions, pyfunc models, figures.

Every training run logs the same provenance: a hash of the exact training frame, the batch ids
loaded into the warehouse (when there is one) and the feature service it read.
"""

from __future__ import annotations

import hashlib
from importlib import metadata
from typing import Any

import pandas as pd

from mercato.settings import Settings

#: Packages a pyfunc model needs at load time, pinned to what trained it (no slow inference).
_RUNTIME_PACKAGES = ("mlflow", "numpy", "pandas", "scipy", "scikit-learn", "cloudpickle")


def single_openmp_thread() -> Any:
    """Limit OpenMP (HistGradientBoosting, KMeans) to one thread for the ``with`` block.

    On a small shared machine OpenMP's spinning threads fight each other: a gradient-boosting
    fit measured 12x slower with 2 threads under load than with 1.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="openmp")


def pip_requirements() -> list[str]:
    """Explicit requirements for logged models (MLflow's inference takes ~10 s)."""
    out = []
    for pkg in _RUNTIME_PACKAGES:
        try:
            out.append(f"{pkg}=={metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def data_version(df: pd.DataFrame) -> str:
    """First 16 hex of a sha256 over the frame's rows and column names (order-sensitive)."""
    digest = hashlib.sha256()
    digest.update(",".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def warehouse_batches(settings: Settings) -> str:
    """Comma-separated loaded batch ids from ``raw.batches``, or "" without a warehouse."""
    if not settings.warehouse_path.exists():
        return ""
    try:
        from warehouse import reader

        rows = reader.query(settings, "select batch_id from raw.batches order by loaded_at")
        return ",".join(rows["batch_id"])
    except Exception:  # noqa: BLE001 - provenance is best effort, training must not fail on it
        return ""


def start_run(settings: Settings, experiment: str, run_name: str) -> Any:
    """Start an MLflow run in ``experiment`` whose artifacts live below ``settings``."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from models.registry import client

    c = client(settings)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        settings.mlflow_artifacts_dir.mkdir(parents=True, exist_ok=True)
        try:
            exp_id = c.create_experiment(
                experiment, artifact_location=settings.mlflow_artifacts_dir.as_uri()
            )
        except MlflowException:  # created concurrently
            exp_id = c.get_experiment_by_name(experiment).experiment_id
    else:
        exp_id = exp.experiment_id
    return mlflow.start_run(experiment_id=exp_id, run_name=run_name)


def log_provenance(settings: Settings, df: pd.DataFrame, feature_service: str = "") -> str:
    """Log data version, batch ids and feature service on the active run; return the version."""
    import mlflow

    version = data_version(df)
    mlflow.set_tags(
        {
            "data_version": version,
            "data_rows": str(len(df)),
            "warehouse_batches": warehouse_batches(settings),
            "feature_service": feature_service or "none",
        }
    )
    return version


def log_pyfunc(python_model: Any, input_example: pd.DataFrame, params: dict | None = None) -> Any:
    """Log a pyfunc model named ``model`` with signature, input example and pinned requirements."""
    import mlflow
    from mlflow.models import infer_signature

    output = python_model.predict(None, input_example, params)
    signature = infer_signature(input_example, output, params)
    return mlflow.pyfunc.log_model(
        name="model",
        python_model=python_model,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements(),
    )


def log_figure(fig: Any, path: str) -> None:
    """Log a matplotlib figure as a PNG artifact and close it."""
    import matplotlib.pyplot as plt
    import mlflow

    mlflow.log_figure(fig, path)
    plt.close(fig)


def figure(width: float = 6.0, height: float = 4.0) -> tuple[Any, Any]:
    """A new (figure, axes) on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))
