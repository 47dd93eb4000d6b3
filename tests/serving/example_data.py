"""Example inputs shared by the serving tests."""

#: One customer's features, every field of ``serving.schemas.CustomerFeatures`` set.
FEATURES = {
    "recency_days": 12.0,
    "frequency": 7,
    "monetary": 1450.5,
    "tenure_days": 300.0,
    "avg_basket_value": 207.2,
    "return_rate": 0.02,
    "n_distinct_products": 45,
    "is_uk": 1,
}
