"""Serving: the champions of the three Mercato models behind one BentoML HTTP service.

- ``serving.service``: the ``@bentoml.service`` class ``Mercato`` (thin HTTP shell).
- ``serving.core``: what every endpoint does, framework-free (also used by the bench's bare app).
- ``serving.champions``: resolving and following the registry's ``champion`` alias, hot swaps.
- ``serving.schemas``: the typed requests and responses (the OpenAPI page is built from them).
- ``serving.guard``: API key, body limits and readable validation errors (ASGI middleware).
- ``serving.launch``: ``serve`` in the foreground, or start/stop in the background for tests.

Importing this package imports nothing heavy; MLflow and Feast load when the service starts.
"""
