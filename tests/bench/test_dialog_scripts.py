"""The scripted conversations of bench/dialog_report.py stay well-formed: a broken script fails
`make test` here, while the benchmark itself never runs in the pass/fail suite."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest

from bench.dialog_report import (
    CHANNELS,
    OUTCOMES,
    TYPES,
    VARIETIES,
    _receipt_reference,
    catalogue,
    load_conversations,
    validate,
)

ENTITY_IDS, _ = catalogue()
CONVERSATIONS = load_conversations()


def _by_id(cid: str) -> dict[str, Any]:
    return copy.deepcopy(next(c for c in CONVERSATIONS if c["id"] == cid))


@pytest.mark.parametrize("conv", CONVERSATIONS, ids=[c.get("id", "?") for c in CONVERSATIONS])
def test_every_scripted_conversation_is_well_formed(conv: dict[str, Any]) -> None:
    assert validate(conv, ENTITY_IDS) == []


def test_ids_are_unique() -> None:
    counts = Counter(c.get("id") for c in CONVERSATIONS)
    assert [cid for cid, n in counts.items() if n > 1] == []


def test_the_set_covers_every_variety_channel_type_and_follow_up() -> None:
    assert len(CONVERSATIONS) >= 80
    per_variety = Counter(c["variety"] for c in CONVERSATIONS)
    assert {v: n for v, n in per_variety.items() if n < 20} == {} and set(per_variety) == set(VARIETIES)
    assert {c["channel"] for c in CONVERSATIONS} == set(CHANNELS)
    assert {c["expect"]["outcome"] for c in CONVERSATIONS} == set(OUTCOMES)
    filed = [c for c in CONVERSATIONS if c["expect"]["outcome"] == "filed"]
    for variety in VARIETIES:
        assert {c["expect"]["type"] for c in filed if c["variety"] == variety} == set(TYPES), variety
    assert any("edit_field" in (c.get("answers") or {}) for c in filed), "a correction mid-form"


@pytest.mark.parametrize(
    "breakage, message",
    [
        (lambda c: c.update(variety="klingon"), "variety"),
        (lambda c: c.update(channel="fax"), "channel"),
        (lambda c: c["expect"].update(type="praise"), "expect.type"),
        (lambda c: c["expect"].update(entity="ministry_of_magic"), "not in the catalogue"),
        (lambda c: c["answers"].pop("description"), "'description'"),
        (lambda c: c["answers"].update(favourite_colour="blue"), "unknown answer key"),
        (lambda c: c["answers"].update(description=""), "non-empty"),
        (lambda c: c.pop("opening"), "opening"),
    ],
)
def test_the_validator_rejects_a_broken_filing(breakage: Any, message: str) -> None:
    conv = _by_id("english-01")
    breakage(conv)
    problems = validate(conv, ENTITY_IDS)
    assert problems and any(message in p for p in problems), problems


def test_the_validator_rejects_a_follow_up_without_its_seed_or_reference() -> None:
    conv = _by_id("msa-17")
    conv["seed"]["entity"] = "nowhere"
    conv["opening"] = "أرغب في تقييم الرد"
    conv["answers"]["rating_reference"] = "رقم الطلب"
    problems = validate(conv, ENTITY_IDS)
    assert any("seed" in p for p in problems) and any("{reference}" in p for p in problems)


def test_a_correction_names_the_field_it_changes() -> None:
    conv = _by_id("dialect-10")
    conv.pop("edit")
    assert any("edit must be one of" in p for p in validate(conv, ENTITY_IDS))


def test_a_reports_reference_is_read_from_the_receipt_the_person_got() -> None:
    """A report's tracker is scrubbed as it is filed, so the benchmark reads the receipt."""
    from bot import refcode

    ref = refcode.generate()
    bad = ref[:-1] + str((int(ref[-1]) + 1) % 10)
    transcript = [("user", f"status of {refcode.format_grouped(ref)}"), ("bot", f"{refcode.format_grouped(bad)}: not found"),
                  ("user", "yes send it"),
                  ("bot", f"Received. Reference: {refcode.format_grouped(ref)} PIN: 123456")]
    assert _receipt_reference(transcript) == ref
    assert _receipt_reference(transcript[:2]) is None, "a mistyped reference is no receipt, nor what the person typed"


def test_the_validator_rejects_a_seed_the_case_store_would_refuse() -> None:
    """A seed the case store answers with HTTP 400 failed before the first turn, as a driver error."""
    conv = _by_id("msa-17")
    conv["seed"]["phone"] = "0773330000"  # 07 and ten digits, but no operator holds 0773
    assert any("not an allocated Jordanian mobile" in p for p in validate(conv, ENTITY_IDS))


def test_the_validator_rejects_a_seed_split_by_an_unquoted_comma() -> None:
    import yaml

    seed = yaml.safe_load("{type: inquiry, entity: moh, phone: '0791234567', answer: Done, see the website.}")
    conv = _by_id("msa-17")
    conv["seed"] = seed
    assert any("unknown seed keys ['see the website.']" in p for p in validate(conv, ENTITY_IDS))
