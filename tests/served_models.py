"""The champions a running service should report: one per family API, not per family.

A family without endpoints (``rating_recommendation``) is registered and gated like the others
but the service neither loads nor lists it, so tests that compare ``/model_info`` or the served
versions with the registry compare with this, built from the same list the service uses
(``serving.champions.prepare_by_api``).
"""

from __future__ import annotations

from mercato.settings import Settings


def served_champions(settings: Settings) -> dict[str, str | None]:
    """``{registered model: champion version or None}`` for every model the service serves."""
    from models import registry
    from serving.champions import prepare_by_api

    names, _ = prepare_by_api(settings)
    return {name: registry.champion_version(settings, name) for name in names}
