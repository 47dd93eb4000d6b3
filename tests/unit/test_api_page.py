"""The API document the service serves, built in process from BentoML's spec and the families'
API declarations (no server, no models: the examples that need served models are left out)."""

from __future__ import annotations

from importlib import metadata
from typing import Any

import pytest


@pytest.fixture(scope="module")
def documents() -> dict[bool, dict[str, Any]]:
    from serving.openapi import build_spec
    from serving.service import APIS, Mercato

    spec = Mercato.openapi_spec.asdict()
    return {auth: build_spec(spec, APIS, None, auth=auth) for auth in (False, True)}


def test_the_document_is_mercatos_with_a_tag_per_family(documents) -> None:
    from models.family import families

    spec = documents[False]
    assert spec["openapi"] == "3.1.0"
    assert spec["info"]["title"] == "Mercato API"
    assert spec["info"]["version"] == metadata.version("mercato")
    tags = [t["name"] for t in spec["tags"]]
    assert [f.name for f in families() if f.api] == tags[: len(tags) - 2]
    assert tags[-2:] == ["service", "infrastructure"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["tags"], f"{method} {path}"


def test_errors_and_nullable_answers_are_documented(documents) -> None:
    spec = documents[False]
    segment = spec["paths"]["/segment"]["post"]
    assert {"200", "400", "404", "413", "415", "503"} <= set(segment["responses"])
    assert "401" not in segment["responses"], "no key configured, no 401"
    assert "503" not in spec["paths"]["/model_info"]["post"]["responses"]
    answer = segment["responses"]["200"]["content"]["application/json"]["schema"]
    segment_field = answer["properties"]["segment"]
    assert {"type": "null"} in segment_field["anyOf"], "unknown customers get a null segment"


def test_with_a_key_every_api_operation_declares_auth_and_401(documents) -> None:
    spec = documents[True]
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} >= {"http", "apiKey"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            protected = method == "post" or path == "/metrics"
            assert ("401" in operation["responses"]) == protected, f"{method} {path}"
            assert bool(operation.get("security")) == protected, f"{method} {path}"


def test_examples_come_from_the_served_models_or_are_left_out(documents) -> None:
    spec = documents[False]
    fixed = spec["paths"]["/propensity_features"]["post"]["requestBody"]["content"]
    assert fixed["application/json"]["examples"]["served"]["value"]["features"]
    picked = spec["paths"]["/recommend"]["post"]["requestBody"]["content"]["application/json"]
    assert "examples" not in picked, "without served models there is no customer to show"
