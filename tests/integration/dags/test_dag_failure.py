"""A batch the raw gate rejects stops the pipeline at the gate and changes nothing downstream."""

from __future__ import annotations

import hashlib
from pathlib import Path

from dag_helpers import (
    AFTER_INGEST,
    DagRunResult,
    champions,
    model_versions,
    run_dag,
    write_bad_batch,
)

from mercato.settings import Settings


def test_bad_batch_fails_raw_gate_and_stops_everything(
    dagbag, pipeline_run: tuple[Settings, DagRunResult], small_orders: Path, tmp_path: Path
) -> None:
    settings, first = pipeline_run
    assert first.state == "success", "needs a trained data folder"
    champions_before = champions(settings)
    versions_before = {n: len(v) for n, v in model_versions(settings).items()}
    bad = write_bad_batch(small_orders, settings.landing_dir / "bad_batch.csv")
    batch_id = hashlib.sha256(bad.read_bytes()).hexdigest()[:16]

    run = run_dag(dagbag, "mercato_pipeline", settings)

    assert run.state == "failed"
    assert run.task_states["ingest"] == "failed"
    for task_id in AFTER_INGEST:
        assert run.task_states[task_id] in ("upstream_failed", "skipped"), task_id
    quarantined = settings.quarantine_dir / batch_id
    assert (quarantined / "bad_batch.csv").is_file(), "the rejected file is kept in quarantine"
    assert (quarantined / "report.md").is_file()
    assert not bad.exists(), "the rejected file left the landing folder"
    assert not (settings.archive_dir / batch_id).exists(), "nothing of it was archived"
    assert champions(settings) == champions_before
    assert {n: len(v) for n, v in model_versions(settings).items()} == versions_before
