"""IntentEnsemble run the way Rasa runs it: train, persist, load in a new object, process."""

from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.intent_ensemble import IntentEnsemble

DATA = {
    "complain": ["صرلنا اسبوع بدون مي", "الموظف صرخ علي بالترخيص", "the water has been cut for a week",
                 "3ndi shakwa 3al baladiyeh", "الشارع كله جور والبلدية ولا سائلة"],
    "ask_government": ["كم رسوم تجديد الجواز", "what documents do i need for a passport",
                       "شو الاوراق المطلوبة للرخصة", "adesh rusoom el jawaz", "how do i apply for takaful"],
    "greet": ["مرحبا", "السلام عليكم", "hello", "hi there", "marhaba"],
}


def _training_data() -> TrainingData:
    return TrainingData([Message({TEXT: t, INTENT: i}) for i, texts in DATA.items() for t in texts])


def _trained(storage: LocalModelStorage, context: ExecutionContext, **config) -> tuple[IntentEnsemble, Resource]:
    resource = Resource("ensemble")
    component = IntentEnsemble.create({**IntentEnsemble.get_default_config(), **config}, storage, resource, context)
    component.train(_training_data())
    return component, resource


def _diet(message: Message, ranking: dict[str, float]) -> Message:
    message.set("intent_ranking", [{"name": n, "confidence": c} for n, c in ranking.items()])
    message.set(INTENT, {"name": max(ranking, key=ranking.get), "confidence": max(ranking.values())})
    return message


def test_loaded_component_gives_the_same_probabilities_without_pickle(storage, context) -> None:
    trained, resource = _trained(storage, context)
    texts = ["الميه مقطوعة عنا", "kam rusoom el rokhsa", "hello there"]
    before = trained.linear_probabilities(texts)
    loaded = IntentEnsemble.load({**IntentEnsemble.get_default_config()}, storage, resource, context)
    after = loaded.linear_probabilities(texts)
    for b, a in zip(before, after):
        assert b.keys() == a.keys()
        for k in b:
            assert a[k] == pytest.approx(b[k], abs=1e-5)
    with storage.read_from(resource) as directory:
        assert sorted(p.name for p in directory.iterdir()) == ["vocabularies.json", "weights.npz"]
    # The weights as predict_proba multiplies them (coef_.T row-major): no copy per message.
    assert loaded.classifier is not None and loaded.classifier.coef_.T.flags.c_contiguous


def test_linear_opinion_alone_is_sensible(storage, context) -> None:
    trained, _ = _trained(storage, context)
    probs = trained.linear_probabilities(["the water is cut again", "شو الاوراق المطلوبة للهوية", "marhaba"])
    assert [max(p, key=p.get) for p in probs] == ["complain", "ask_government", "greet"]
    assert all(sum(p.values()) == pytest.approx(1.0) for p in probs)


def test_combination_follows_the_weight(storage, context) -> None:
    trained, _ = _trained(storage, context, diet_weight=0.5)
    text = "the water is cut again"
    linear = trained.linear_probabilities([text])[0]
    # DIET (made up here) is sure it is a greeting; the average of the two opinions decides
    msg = _diet(Message({TEXT: text}), {"greet": 0.9, "complain": 0.1})
    trained.process([msg])
    ranking = {r["name"]: r["confidence"] for r in msg.get("intent_ranking")}
    assert ranking["greet"] == pytest.approx(0.5 * 0.9 + 0.5 * linear["greet"])
    assert ranking["complain"] == pytest.approx(0.5 * 0.1 + 0.5 * linear["complain"])
    assert msg.get(INTENT)["name"] == max(ranking, key=ranking.get)
    assert list(ranking.values()) == sorted(ranking.values(), reverse=True)
    # each model's own first choice goes out with the parse (bot.request_rules.unsure_types)
    top = max(linear, key=linear.get)
    assert msg.get("intent_opinions") == {"diet": {"name": "greet", "confidence": pytest.approx(0.9)},
                                          "linear": {"name": top, "confidence": pytest.approx(linear[top])}}
    assert "intent_opinions" in msg.output_properties
    # all weight on DIET: DIET's answer stands
    diet_only, _ = _trained(storage, context, diet_weight=1.0)
    msg = _diet(Message({TEXT: text}), {"greet": 0.9, "complain": 0.1})
    diet_only.process([msg])
    assert msg.get(INTENT) == {"name": "greet", "confidence": pytest.approx(0.9)}


def test_message_without_text_or_untrained_model_is_left_alone(storage, context) -> None:
    untrained = IntentEnsemble.load(IntentEnsemble.get_default_config(), storage, Resource("missing"), context)
    msg = _diet(Message({TEXT: "hello"}), {"greet": 0.7, "complain": 0.3})
    untrained.process([msg])
    assert msg.get(INTENT)["name"] == "greet" and msg.get(INTENT)["confidence"] == pytest.approx(0.7)
    trained, _ = _trained(storage, context)
    empty = Message({TEXT: ""})
    trained.process([empty])
    assert empty.get(INTENT) is None


@pytest.mark.parametrize("path", ["as trained", "as loaded"])
def test_the_tfidf_features_are_sklearns(path: str) -> None:
    """`tfidf` against sklearn's own `transform`, on vectorizers fitted on the project's NLU data and
    applied to the held-out texts: the same entries, values within rounding of a row's norm, and
    in the type sklearn gives (float32 right after fitting, float64 with the idf set on load)."""
    from pathlib import Path

    import numpy as np
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.intent_ensemble import _prepare, _vectorizers, tfidf

    root = Path(__file__).resolve().parents[2]
    texts = [_prepare(m.get(TEXT)) for f in sorted((root / "nlu_data").glob("nlu_*.yml"))
             for m in load_data(str(f)).intent_examples]
    held_out = [_prepare(m.get(TEXT)) for m in load_data(str(root / "tests" / "nlu" / "heldout.yml")).intent_examples]
    held_out += ["", "؟", "zzzz qqqq", "3a 7a 5a"]  # nothing known, punctuation only
    assert len(texts) > 1000 and len(held_out) > 200
    for vectorizer in _vectorizers(IntentEnsemble.get_default_config()):
        vectorizer.fit(texts)
        if path == "as loaded":
            vectorizer.idf_ = vectorizer.idf_.astype(np.float32)  # as IntentEnsemble.load sets it
        ours, stock = tfidf(vectorizer, vectorizer.idf_, held_out), vectorizer.transform(held_out)
        assert ours.dtype == stock.dtype and ours.shape == stock.shape
        ours.sort_indices()
        stock.sort_indices()
        assert (ours.indptr == stock.indptr).all() and (ours.indices == stock.indices).all()
        assert ours.nnz > 1000 and np.abs(ours.data - stock.data).max() < 1e-12
