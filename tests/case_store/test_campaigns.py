"""case_store.campaigns: the campaign files' optional short labels of their questions (the names
the request summary gives the answers), checked with a message that names the bad item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend_client import Campaign as ClientCampaign
from case_store.campaigns import CampaignError, Campaigns
from case_store.catalogue import Catalogue
from tests.support.case_store import CATALOGUE

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def document(**question: Any) -> dict[str, Any]:
    return {"version": 1, "campaigns": [{
        "id": "noise", "name_ar": "الضجيج", "name_en": "Noise", "entity": "gam", "sla_days": 3,
        "triggers_en": ["loud music"], "questions": [{"id": "street", "ar": "في أي شارع؟", "en": "Which street?", **question}],
    }]}


def test_the_shipped_smoking_campaign_names_its_answers() -> None:
    [smoking] = Campaigns.load(Catalogue.load()).campaigns
    as_served = ClientCampaign.from_json(smoking.to_json() | {"sector": smoking.sector})
    assert [(q.label("ar"), q.label("en")) for q in as_served.questions] == [("المكان", "place"), ("الوقت", "when")]


def test_a_question_without_labels_is_named_by_its_first_sentence() -> None:
    [potholes] = Campaigns.load(Catalogue.load(CATALOGUE), [FIXTURES / "campaign_potholes.yml"]).campaigns
    assert "label_en" not in potholes.to_json()["questions"][0]
    [question] = ClientCampaign.from_json(potholes.to_json()).questions
    assert question.label("en") == "Which street is the pothole on"
    assert question.label("ar") == "في أي شارع الحفرة"


@pytest.mark.parametrize("label", ["", "a very long label that goes on and on", "two\nlines", 7])
def test_a_bad_label_is_refused_naming_the_question(label: Any) -> None:
    with pytest.raises(CampaignError, match=r"campaigns\[0\] \(noise\): questions\[0\]: label_en must be a short name"):
        Campaigns.from_document(document(label_en=label), Catalogue.load(CATALOGUE))


def test_a_good_label_is_kept() -> None:
    [noise] = Campaigns.from_document(document(label_ar="الشارع", label_en="street"), Catalogue.load(CATALOGUE)).campaigns
    assert noise.to_json()["questions"] == [
        {"id": "street", "ar": "في أي شارع؟", "en": "Which street?", "label_ar": "الشارع", "label_en": "street"}]
