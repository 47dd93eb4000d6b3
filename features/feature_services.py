"""Feature services: the exact features one model version trains and serves on.

A service is versioned with its model (``propensity_v1``): changing the features a model uses
means a new service, so a deployed model never silently receives a different feature set. The
feature lists live in ``features.FEATURE_SERVICES`` so code that cannot import Feast can read them.
"""

from __future__ import annotations

from feast import FeatureService, FeatureView

from features import FEATURE_SERVICES
from features.feature_views import customer_rfm_stats

_MODELS = {
    "segmentation_v1": "mercato_segmentation",
    "propensity_v1": "mercato_propensity",
    "churn_v1": "mercato_churn",
}


def feature_service(name: str, customer_view: FeatureView) -> FeatureService:
    """The service ``name``: its features from ``FEATURE_SERVICES``, read from the customer view."""
    return FeatureService(
        name=name,
        features=[customer_view[FEATURE_SERVICES[name]]],
        description=f"Customer features of registered model {_MODELS[name]}.",
        tags={"owner": "mercato", "model": _MODELS[name]},
    )


segmentation_v1 = feature_service("segmentation_v1", customer_rfm_stats)
propensity_v1 = feature_service("propensity_v1", customer_rfm_stats)
churn_v1 = feature_service("churn_v1", customer_rfm_stats)
