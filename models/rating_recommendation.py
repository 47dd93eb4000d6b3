"""Recommendations from explicit ratings (the ratings source): the recommender family's methods
on stars instead of purchases, registered as its own model.

A shop that sends ratings (MovieLens ``ratings.csv`` layout, mart ``fct_ratings``) gets a
second registered model, ``mercato_rating_recommender``, beside ``mercato_recommender`` (which
keeps learning from order lines only). The two are kept apart on purpose: a purchase and a
two-star rating say different things, and each model is judged on the feedback it learned
from. Every method of :mod:`models.recommendation` runs in ratings mode
(``fit_candidate(min_rating=...)``):

- items rated at least :data:`RELEVANT_RATING` stars are the positive interactions the
  item-based methods, user-kNN cosine, popularity and the hybrid learn from;
- ``userknn_pearson`` is the classic user-based Pearson: each user's ratings minus their mean,
  correlated over the items both users rated, shrunk by the number of co-rated items; a
  neighbour votes for an item with how much more (or less) than usual they liked it;
- every item a user rated, liked or not, counts as seen (``exclude_bought``).

The hold-out is the last ``settings.holdout_days`` days, as for purchases; items a known user
rated at least :data:`RELEVANT_RATING` stars after the cut-off (and had not rated before) are
the relevant ones. Tuning, the gate and the refit on all data work as for purchases. Item text
comes from ``dim_products`` when the rated items are the shop's products (content and hybrid
then run too); ratings of items the shop does not sell (MovieLens ids) train the collaborative
methods only. No HTTP endpoint yet: the model is registered and gated, and loads with
``models.registry.load_version`` like any other.
"""

from __future__ import annotations

import pandas as pd

from mercato.settings import Settings
from models.recommendation import (
    RecommendationData,
    RecommendationFamily,
    build_item_text,
    normalize_interactions,
)

MODEL_NAME = "mercato_rating_recommender"
EXPERIMENT = "mercato_rating_recommendation"
#: Stars from which a rating counts as a like (MovieLens convention on its 0.5-5 scale).
RELEVANT_RATING = 4.0


def build_rating_data(settings: Settings) -> pd.DataFrame:
    """Mart ``fct_ratings`` (read-only) as the interaction columns, stars in ``rating``."""
    from warehouse import reader

    frame = reader.query(
        settings,
        """
        select user_id, item_id, rating, rated_at as timestamp
        from main.fct_ratings
        order by rated_at, user_id, item_id
        """,
    )
    return normalize_interactions(frame)


def load_rating_data(settings: Settings) -> RecommendationData:
    """Ratings, with the product text where the rated items are the shop's products."""
    ratings = build_rating_data(settings)
    items = build_item_text(settings)
    if not ratings["item_id"].isin(items["item_id"]).any():
        return RecommendationData(ratings, None)
    return RecommendationData(ratings, items)


class RatingRecommendationFamily(RecommendationFamily):
    """The recommender family on explicit ratings (see the module docstring)."""

    name = "rating_recommendation"
    registered_model = MODEL_NAME
    experiment = EXPERIMENT
    reads = (
        "mart fct_ratings (ratings source: explicit stars), dim_products descriptions as item "
        "text where the rated items are the shop's products"
    )
    api = None
    summary = "items for a user from explicit ratings (user-based Pearson, EASE, item-kNN...)"
    min_rating = RELEVANT_RATING

    def has_data(self, settings: Settings) -> bool:
        from warehouse import reader

        rows = reader.query_if_built(settings, "select count(*) as n from main.fct_ratings")
        return rows is not None and int(rows["n"].iloc[0]) > 0

    def load_data(self, settings: Settings) -> RecommendationData:
        return load_rating_data(settings)


FAMILY = RatingRecommendationFamily()
