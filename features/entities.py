"""Entities: the business objects features describe, and the keys that identify them.

An entity's join key is the column that feature rows, training labels and online lookups share.
Both keys are strings as in the marts (``customer_id`` is integer text such as ``"17850"``).
"""

from feast import Entity, Project, ValueType

from features.config import PROJECT

project = Project(
    name=PROJECT,
    description="Mercato: customer and product features for segmentation, recommendations "
    "and purchase propensity.",
)

customer = Entity(
    name="customer",
    join_keys=["customer_id"],
    value_type=ValueType.STRING,
    description="A known customer of the shop (UCI Online Retail CustomerID as text).",
    tags={"owner": "mercato", "source": "dim_customers"},
)

product = Entity(
    name="product",
    join_keys=["stock_code"],
    value_type=ValueType.STRING,
    description="A product sold by the shop, identified by its stock code.",
    tags={"owner": "mercato", "source": "dim_products"},
)
