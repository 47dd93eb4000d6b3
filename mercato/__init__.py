"""The ground every layer stands on: settings (every ``MERCATO_*`` variable), the names the
layers share (aliases, pools, the catalogues of families and sources, customer-id form), and
nothing else. It imports nothing above it, and nothing beyond the standard library.

The layers, bottom to top: ``mercato`` -> ``expectations`` (pure checks) -> ``warehouse``
(sources, landing, dbt, the one reader) -> ``features`` (Feast) -> ``models`` (families,
training, registry, gate) -> ``monitoring`` (drift, realised performance, freshness) ->
``serving`` (BentoML) -> ``pipeline`` (stages, CLI, demo) ->
``dags`` (Airflow). ``devtools`` (local servers, audits) is not shipped.
"""
