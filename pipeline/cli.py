"""The ``mercato`` command line: the same stage functions the Airflow DAGs call.

Each stage's verb is its function's name in ``pipeline.stages``. Every command reads its data
folder from ``MERCATO_HOME`` (see ``mercato.settings``), so two data folders never mix.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from mercato.settings import Settings, apply_runtime_env, get_settings


def quiet_libraries() -> None:
    """Keep the terminal to our progress and answers: libraries' info logs and warnings go.

    Feast resets the warning filters when it is imported, and Airflow routes warnings through
    the ``py.warnings`` logger, so the level is set on loggers rather than on warning filters.
    """
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")  # MLflow resets its level on import
    logging.captureWarnings(True)
    for name in ("py.warnings", "mlflow", "feast", "great_expectations", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run one command; returns the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    settings = get_settings()
    apply_runtime_env(settings)
    if not args.debug:
        quiet_libraries()
    try:
        return int(args.func(settings, args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI's job is a readable message, not a traceback
        if getattr(args, "debug", False):
            raise
        print(f"mercato {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    from mercato.names import family_names, source_modules

    settings = get_settings()
    names = family_names(settings)
    parser = argparse.ArgumentParser(
        prog="mercato",
        description="Mercato: models for e-commerce marketing, from raw data to HTTP answers.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser(
        "generate",
        help="write seeded synthetic data: order lines, reviews, or every source into landing",
    )
    gen.add_argument(
        "--source",
        choices=("orders", "reviews", "all"),
        default="orders",
        help="what to generate (all: one batch per source into the landing folder)",
    )
    gen.add_argument("--out", type=Path, help="output file (.csv or .parquet; not with all)")
    gen.add_argument("--customers", type=int, default=1000)
    gen.add_argument("--products", type=int, default=300)
    gen.add_argument("--days", type=int, default=365)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument(
        "--end-date",
        type=date.fromisoformat,
        default=None,
        help="day after the last order, YYYY-MM-DD (default: today)",
    )
    gen.set_defaults(func=_generate)

    run = sub.add_parser("run", help="run every stage end to end")
    run.add_argument("--data", type=Path, help="a CSV or Parquet file of order lines")
    run.set_defaults(func=_run)

    ingest = sub.add_parser("ingest", help="load one batch file (or the landing folder)")
    ingest.add_argument("path", type=Path, nargs="?")
    ingest.add_argument(
        "--source",
        choices=list(source_modules(settings)),
        help="the file's raw source (default: recognised by its columns)",
    )
    ingest.set_defaults(func=_stage("ingest"))

    transform = sub.add_parser("transform", help="build the marts with dbt (and its docs)")
    transform.add_argument("--select", help="one layer only: staging, intermediate or marts")
    transform.set_defaults(func=_stage("transform"))

    for name, help_text in (
        ("validate", "run the Great Expectations gate over the marts"),
        ("features", "export, apply and materialize the Feast features"),
        ("champions", "show the champion version of each model family"),
    ):
        stage = sub.add_parser(name, help=help_text)
        stage.set_defaults(func=_stage(name))

    train = sub.add_parser(
        "train",
        help=f"train, register and gate a model family ({', '.join(names)}, or all)",
        description="Train, evaluate, register and gate a model family. Families: "
        + ", ".join(names),
    )
    train.add_argument("family", choices=[*names, "all"], help="a family name, or all")
    train.set_defaults(func=_train)

    watch = sub.add_parser(
        "monitor", help="check drift, realised performance and freshness of the champions"
    )
    watch.add_argument("--no-fail", action="store_true", help="exit 0 even when a limit is crossed")
    watch.set_defaults(func=_monitor)

    serve = sub.add_parser("serve", help="serve the champions over HTTP (BentoML)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--host", default=None)
    serve.set_defaults(func=_serve)

    promote = sub.add_parser("promote", help="make a registered version the champion")
    promote.add_argument("model")
    promote.add_argument("version")
    promote.set_defaults(func=_promote)

    rollback = sub.add_parser("rollback", help="return the champion to the previous one")
    rollback.add_argument("model")
    rollback.set_defaults(func=_rollback)

    sentiment = sub.add_parser("sentiment", help="use the sentiment champion on a file")
    sentiment_sub = sentiment.add_subparsers(dest="sentiment_command", required=True)
    score = sentiment_sub.add_parser(
        "score", help="score every text of a CSV, TSV, Parquet or JSON-lines file"
    )
    score.add_argument("path", type=Path, help="the file of texts")
    score.add_argument("--text-col", default="text", help="the text column (default: text)")
    score.add_argument("--title-col", help="a title column (the model reads 'title. text')")
    score.add_argument("--terms", type=int, default=0, help="driving terms of each sign to add")
    score.add_argument("--out", type=Path, required=True, help="scored file (.csv or .parquet)")
    score.set_defaults(func=_sentiment_score)

    forget = sub.add_parser(
        "forget",
        help="forget a customer everywhere the data home keeps them (GDPR article 17)",
        description="Remove a customer from the warehouse, the online store, archived batches "
        "and every data file of the home, keep them out of later deliveries, and tell a running "
        "service. See docs/privacy.md.",
    )
    forget.add_argument("customer_id", help="the customer id, as in the order data")
    forget.add_argument(
        "--retrain", action="store_true", help="then rebuild and retrain every family without them"
    )
    forget.set_defaults(func=_forget)

    info = sub.add_parser("info", help="show the settings and where each tool writes")
    info.set_defaults(func=_info)
    _add_campaign(sub)
    return parser


def _print(summary: Any) -> None:
    print(json.dumps(summary, indent=2, default=str))


def _generate(settings: Settings, args: argparse.Namespace) -> int:
    from warehouse.synthetic import write_orders
    from warehouse.synthetic_landing import write_landing
    from warehouse.synthetic_reviews import write_reviews

    shape = {
        "n_customers": args.customers,
        "n_products": args.products,
        "days": args.days,
        "seed": settings.seed if args.seed is None else args.seed,
        "end_date": args.end_date or date.today(),
    }
    if args.source == "all":
        if args.out is not None:
            raise ValueError("--out names one file; --source all writes into the landing folder")
        written = list(write_landing(settings.landing_dir, **shape).values())
    else:
        write = write_orders if args.source == "orders" else write_reviews
        default = settings.landing_dir / f"synthetic_{args.source}.parquet"
        written = [write(args.out or default, **shape)]
    for path in written:
        print(f"wrote {path}")
    return 0


def run_pipeline(settings: Settings, data: Path | None = None) -> dict[str, Any]:
    """Run every stage on ``data`` (or the landing folder) and print the run's summary.

    With no ``data`` and an empty landing folder, one seeded synthetic batch of every source
    (orders, reviews, campaigns, sessions, ads) is generated into the landing folder first, so
    a fresh checkout has something to run on (``mercato run``, the demo).
    """
    from pipeline.stages import run_all
    from pipeline.summary import format_summary

    if data is None and not any(settings.landing_dir.glob("*")):
        from warehouse.synthetic_landing import write_landing

        written = write_landing(settings.landing_dir, seed=settings.seed, end_date=date.today())
        names = ", ".join(path.name for path in written.values())
        print(f"no data given and the landing folder is empty: generated {names}")
    summary = run_all(settings, data)
    print(format_summary(summary))
    return summary


def _run(settings: Settings, args: argparse.Namespace) -> int:
    run_pipeline(settings, args.data)
    return 0


def _stage(name: str):  # type: ignore[no-untyped-def]
    def run_stage(settings: Settings, args: argparse.Namespace) -> int:
        from pipeline import stages

        if name == "ingest":
            summary = stages.ingest(settings, args.path, source=args.source)
        elif name == "transform":
            summary = stages.transform(settings, args.select)
        else:
            summary = getattr(stages, name)(settings)
        _print(summary)
        return 0

    return run_stage


def _monitor(settings: Settings, args: argparse.Namespace) -> int:
    """Print the monitor's alerts and report; exit 1 when a limit is crossed."""
    from pipeline import stages

    result = stages.monitor(settings, fail=False)
    for family, part in result["families"].items():
        drifted = part.get("skipped") or ", ".join(part["drifted"]) or "no drift"
        print(f"{family} v{part['version']}: {drifted}")
    for alert in result["alerts"]:
        print(f"ALERT {alert}")
    if result["retrain"]:
        print("retrain: " + ", ".join(result["retrain"]))
    print(f"report: {result['report']}")
    return 1 if result["alerts"] and not args.no_fail else 0


def _train(settings: Settings, args: argparse.Namespace) -> int:
    from mercato.names import family_names
    from pipeline import stages

    names = family_names(settings) if args.family == "all" else (args.family,)
    _print({family: stages.train(settings, family) for family in names})
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    from serving.launch import serve

    return serve(settings, host=args.host, port=args.port)


def _promote(settings: Settings, args: argparse.Namespace) -> int:
    from models import registry

    _print(registry.promote(settings, args.model, args.version))
    return 0


def _rollback(settings: Settings, args: argparse.Namespace) -> int:
    from models import registry

    _print(registry.rollback(settings, args.model))
    return 0


def _sentiment_score(settings: Settings, args: argparse.Namespace) -> int:
    from models.sentiment_files import score_file

    _print(score_file(settings, args.path, args.out, args.text_col, args.title_col, args.terms))
    return 0


def _forget(settings: Settings, args: argparse.Namespace) -> int:
    from pipeline import stages

    _print(stages.forget(settings, args.customer_id, retrain=args.retrain))
    return 0


def _info(settings: Settings, args: argparse.Namespace) -> int:
    _print(
        {
            "home": settings.home,
            "landing": settings.landing_dir,
            "archive": settings.archive_dir,
            "quarantine": settings.quarantine_dir,
            "warehouse": settings.warehouse_path,
            "dbt_docs": settings.dbt_target_dir / "index.html",
            "gx_data_docs": settings.gx_dir,
            "feast_registry": settings.feast_registry_path,
            "online_store": settings.online_store,
            "mlflow_tracking_uri": settings.tracking_uri,
            "runs": settings.run_log_dir,
        }
    )
    return 0


def _add_campaign(sub: Any) -> None:
    campaign = sub.add_parser("campaign", help="plan a campaign's audience from the champions")
    verbs = campaign.add_subparsers(dest="campaign_command", required=True)
    plan = verbs.add_parser(
        "plan", help="the audience with the most expected incremental profit under a budget"
    )
    plan.add_argument("--campaign", required=True, help="campaign name as in the campaign data")
    plan.add_argument("--budget", type=float, required=True, help="money to spend on contacts")
    plan.add_argument("--cost-per-contact", type=float, required=True)
    plan.add_argument(
        "--value-per-conversion", type=float, help="default: each customer's CLV (clv champion)"
    )
    plan.add_argument("--out", type=Path, help="audience CSV (default: <home>/plans/NAME.csv)")
    plan.set_defaults(func=_campaign_plan)


def _campaign_plan(settings: Settings, args: argparse.Namespace) -> int:
    from models.planning import PlanRefused, plan_from_registry

    out = args.out or settings.home / "plans" / f"{args.campaign}.csv"
    try:
        plan = plan_from_registry(
            settings,
            args.campaign,
            args.budget,
            args.cost_per_contact,
            args.value_per_conversion,
            out=out,
        )
    except PlanRefused as exc:
        print(f"mercato campaign plan: refused: {exc}", file=sys.stderr)
        return 2
    _print({**plan.summary(), "audience_file": str(out)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
