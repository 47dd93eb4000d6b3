"""One-shot service `bootstrap`: make sure BentoML has champions to serve on the first `up`.

When every registered model already has a ``champion`` the script only says so. Otherwise, with
``MERCATO_BOOTSTRAP_DEMO=true`` (the default in docker-compose.yml) it runs the whole pipeline
once on synthetic orders, with the production configuration of the container (MLflow server,
Redis online store); with ``false`` it fails, so that `bentoml` does not start without a model.
Real data then arrives through the Airflow DAGs, which register new versions and move the aliases.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mercato.settings import Settings


def champions_missing(settings: Settings) -> list[str]:
    """Registered models that have no ``champion`` alias yet."""
    from models.registry import champions

    return [name for name, version in champions(settings).items() if version is None]


def main() -> int:
    from mercato.settings import apply_runtime_env, get_settings

    settings = get_settings()
    apply_runtime_env(settings)
    settings.ensure_dirs()
    marker = settings.home / ".bootstrap-done"
    missing = champions_missing(settings)
    if not missing:
        print("bootstrap: every model has a champion; nothing to do")
    elif os.environ.get("MERCATO_BOOTSTRAP_DEMO", "true").lower() not in ("1", "true", "yes"):
        print(
            f"bootstrap: no champion for {', '.join(missing)} and MERCATO_BOOTSTRAP_DEMO is off: "
            "run the pipeline (Airflow DAGs or `mercato` CLI) before starting bentoml",
            file=sys.stderr,
        )
        return 1
    else:
        from pipeline.stages import run_all
        from warehouse.synthetic import write_orders

        print(f"bootstrap: no champion for {', '.join(missing)}; training on synthetic orders")
        orders = settings.home / "bootstrap" / "synthetic_orders.csv"
        orders.parent.mkdir(parents=True, exist_ok=True)
        write_orders(orders, end_date=date.today())
        run_all(settings, orders)
    marker.touch()
    return 0


if __name__ == "__main__":
    sys.exit(main())
