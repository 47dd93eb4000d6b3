"""The assistant's entities and knowledge pages, without a server or a warehouse."""

from __future__ import annotations

import os
import time

from serving.assistant.entities import Catalogue, extract
from serving.assistant.knowledge import DEFAULT_DIR, KnowledgeBase, ensure_defaults

CATALOGUE = Catalogue(
    {
        "85123A": "WHITE HANGING HEART T-LIGHT HOLDER",
        "85973": "CHRISTMAS CANDLE 2",
        "85974": "CHRISTMAS CANDLE 3",
        "84779": "WOODLAND LANTERN 3",
        "22423": "REGENCY CAKESTAND 3 TIER",
    }
)


def found(text: str) -> list[tuple[str, str]]:
    return [(e.type, e.value) for e in extract(text, CATALOGUE)]


def test_shapes_are_found_with_their_spans_and_an_email_is_not_an_invoice() -> None:
    text = "Refund £12.50 for #536365 and C536379, bought 3 March 2011; mail jo.123456@shop.co.uk"
    entities = extract(text, CATALOGUE)
    assert [(e.type, e.value) for e in entities] == [
        ("amount", "£12.50"),
        ("invoice", "536365"),
        ("invoice", "C536379"),
        ("date", "3 March 2011"),
        ("email", "jo.123456@shop.co.uk"),
    ]
    assert all(text[e.start : e.end].lower() == e.value.lower() for e in entities)
    assert found("is 85123a in stock, or 99999?") == [("product_code", "85123A")]


def test_product_names_match_through_typos_and_their_number_picks_the_variant() -> None:
    assert found("do you still sell the white hangin heart tlight holder")[0] == (
        "product",
        "85123A",
    )
    assert found("a chrismas candel 3 please")[0] == ("product", "85974")
    assert found("woodlnd lantern")[0] == ("product", "84779")
    assert found("where is my order") == [] and found("the heart of the matter") == []


def test_policy_questions_find_their_page_and_a_changed_page_is_reindexed(
    tmp_path, monkeypatch
) -> None:
    from serving.assistant import knowledge

    monkeypatch.setattr(knowledge, "CHECK_SECONDS", 0.0)  # look at the files on every search
    folder = tmp_path / "knowledge"
    ensure_defaults(folder)
    assert sorted(p.name for p in folder.glob("*.md")) == sorted(
        p.name for p in DEFAULT_DIR.glob("*.md")
    )
    kb = KnowledgeBase(folder)
    expected = {
        "what is your refund policy": "returns.md",
        "can I pay with paypal": "payment.md",
        "is there a fee to cancel my order": "cancellations.md",
        "I forgot my password": "account.md",
        "do you offer express delivery": "delivery.md",
    }
    for question, page in expected.items():
        assert kb.search(question, k=1)[0].passage.file == page, question
    assert kb.search("zebra quantum") == []
    (folder / "pets.md").write_text("# Pets\n\n## Zebras\nWe ship zebra plushies worldwide.\n")
    hit = kb.search("zebra plushies", k=1)[0]
    assert (hit.passage.file, hit.passage.heading) == ("pets.md", "Zebras")
    assert kb.reindex_count == 2
    returns = folder / "returns.md"
    returns.write_text(returns.read_text().replace("30 days of delivery", "60 days of delivery"))
    later = time.time() + 5
    os.utime(returns, (later, later))
    assert "60 days" in kb.search("returns window", k=1)[0].passage.text
    assert kb.reindex_count == 3
    ensure_defaults(folder)  # an existing folder is the shop's: nothing is copied over it
    assert (folder / "pets.md").exists()
