"""The fragments actions put inside responses come from the `labels` catalogs, in the slot's language."""

from __future__ import annotations

import datetime as dt

import pytest

from actions.tracking import status_message
from backend_client.types import CaseRequest, Entity
from bot import labels


def _request(**changes: object) -> CaseRequest:
    fields: dict[str, object] = dict(
        reference="4829103756", reference_display="482 910 3756", type="complaint", status="in_progress",
        sector="health", entity=Entity("moh", "وزارة الصحة", "Ministry of Health"), pillar="procedures",
        importance="normal", language="ar", channel="web", created_at=None,
        due_at=dt.datetime(2026, 11, 26, 9, tzinfo=dt.timezone.utc), escalation_level=0, confidential=False,
        anonymous=False,
    )
    fields.update(changes)
    return CaseRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("lang", "escalation", "answer", "status"), [
    ("ar", "\nتم التصعيد (المستوى 2)", "\nرد الجهة: {الرد} كامل", "قيد المعالجة"),
    ("en", "\nEscalated (level 2)", "\nReply: {الرد} كامل", "in progress"),
])
def test_status_lines_follow_the_language(lang: str, escalation: str, answer: str, status: str) -> None:
    # Braces in the entity's answer are data, not a template.
    shown = status_message(_request(escalation_level=2, answer="{الرد} كامل"), lang)
    assert (shown["escalation_text"], shown["answer_text"], shown["status_label"]) == (escalation, answer, status)


def test_no_escalation_and_no_answer_add_no_lines() -> None:
    shown = status_message(_request(), "en")
    assert (shown["escalation_text"], shown["answer_text"]) == ("", "")


@pytest.mark.parametrize(("kind", "key", "lang", "expected"), [
    ("status", "answered", "ar", "تم الرد"),
    ("status", "answered", "en", "answered"),
    ("field", "importance", "ar", "الأهمية"),  # same English word as the vocabulary: msgctxt keeps them apart
    ("importance", "urgent", "ar", "مستعجل"),
    ("type", "report", "fr", "إبلاغ عن مخالفة"),  # an unknown language reads Arabic, the default
    ("pillar", "no_such_pillar", "ar", "no_such_pillar"),
    ("pillar", None, "ar", "-"),
])
def test_labels_read_through_the_catalogs(kind: str, key: str | None, lang: str, expected: str) -> None:
    assert labels.label(kind, key, lang) == expected


def test_anonymous_phone_row() -> None:
    assert labels.phrase("ar", "none (anonymous)") == "لا يوجد (بلاغ سري)"
    assert labels.phrase("en", "none (anonymous)") == "none (anonymous)"
