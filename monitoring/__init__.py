"""Watching the champions in production: data drift, prediction drift, realised performance
and freshness, one result and one HTML report per run (``pipeline.stages.monitor``).

Above ``models`` (it reads the champions and their reference profiles) and below ``serving``
(whose ``/metrics`` shows the latest result) and ``pipeline``.
"""
