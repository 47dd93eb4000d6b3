"""The ground every layer stands on: settings (every ``MERCATO_*`` variable), the names the
layers share (aliases, pools, the catalogues of families and sources, customer-id form), and
nothing else. It imports nothing above it, and nothing beyond the standard library.

The layers, bottom to top: ``mercato`` -> ``expectations`` (pure checks) -> ``warehouse``
(sources, landing, dbt, the one reader) -> ``features`` (Feast) -> ``models`` (families,
training, registry, gate) -> ``monitoring`` (drift, realised performance, freshness) ->
``serving`` (BentoML) -> ``pipeline`` (stages, CLI, demo) ->
``dags`` (Airflow). ``devtools`` (local servers, audits) is not shipped.
"""

import sys as _sys


def _main_module_has_a_file() -> None:
    """Give ``python -c`` and stdin scripts a ``__main__.__file__``.

    pyspark (installed with the Spark warehouse) decides in ``pyspark.sql.connect.utils`` that a
    ``__main__`` without ``__spec__`` or ``__file__`` means it runs doctests, and calls
    ``sys.exit(0)`` when Spark Connect's extras are missing. Great Expectations imports that
    module while probing for Spark, so ``python -c "...ingest..."`` stopped silently with exit
    0 in the middle of a run. A placeholder file name keeps pyspark out of its doctest branch.
    """
    main = _sys.modules.get("__main__")
    if (
        main is not None
        and getattr(main, "__spec__", None) is None
        and not hasattr(main, "__file__")
        and not hasattr(_sys, "ps1")
    ):
        main.__file__ = "<string>"


_main_module_has_a_file()
