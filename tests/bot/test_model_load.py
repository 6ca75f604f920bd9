"""The trained model loaded without Rasa's one-example training step (bot/rasa_patches.py
`_make_model_load`) is the model stock loads: the same variables with the same values, and the
same intents, confidences and entities for the same texts. Uses the trained model (`make test`
trains it first), as a Rasa process loads it."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from bench.nlu_report import load_heldout
from bot import rasa_patches
from bot.launcher import MODEL, train_if_needed


def _stock_load() -> Any:
    from rasa.utils.tensorflow.models import RasaModel

    load = RasaModel.__dict__["load"].__func__
    return getattr(load, "__wrapped__", load)


def _load_agent(monkeypatch: pytest.MonkeyPatch, fast: bool) -> tuple[Any, int]:
    """An agent of the trained model, and how many times Keras's `fit` ran while it loaded."""
    import tensorflow as tf
    from rasa.core.agent import Agent
    from rasa.utils.tensorflow.models import RasaModel

    stock = classmethod(_stock_load())
    with monkeypatch.context() as m:
        m.setattr(RasaModel, "load", rasa_patches._make_model_load(stock) if fast else stock)
        fits = []
        real_fit = tf.keras.Model.fit
        m.setattr(tf.keras.Model, "fit", lambda self, *a, **k: fits.append(1) or real_fit(self, *a, **k))
        agent = Agent.load(str(MODEL))
    return agent, len(fits)


def _diet_variables(agent: Any) -> dict[str, np.ndarray]:
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    diets = [n._component for n in nodes if isinstance(n._component, DIETClassifier)]
    assert len(diets) == 1
    return {v.name: v.numpy() for v in diets[0].model.variables}


def _texts(n: int) -> list[str]:
    texts = [text for text, *_ in load_heldout()]
    return texts[:: max(1, len(texts) // n)][:n]


def _parses(agent: Any, texts: list[str]) -> list[tuple[Any, ...]]:
    async def parse_all() -> list[tuple[Any, ...]]:
        out = []
        for text in texts:
            r = await agent.parse_message(text)
            out.append((r["intent"]["name"], [(i["name"], i["confidence"]) for i in r["intent_ranking"]],
                        sorted((e["entity"], e["start"], e["end"], e.get("value")) for e in r["entities"])))
        return out

    return asyncio.run(parse_all())


@pytest.mark.e2e  # needs the trained model
def test_the_model_loaded_without_a_training_step_is_the_model_stock_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    train_if_needed()
    texts = _texts(80)
    fast, fast_fits = _load_agent(monkeypatch, fast=True)
    assert fast_fits == 0  # the fast path was taken, not stock's fallback
    fast_vars, fast_parses = _diet_variables(fast), _parses(fast, texts)
    del fast
    stock, stock_fits = _load_agent(monkeypatch, fast=False)
    assert stock_fits >= 1  # stock's path does train a step (else this test compares nothing)
    stock_vars, stock_parses = _diet_variables(stock), _parses(stock, texts)

    # Every variable a prediction reads holds what stock holds; stock has the training-only ones more.
    assert fast_vars and set(fast_vars) <= set(stock_vars)
    for name, value in fast_vars.items():
        assert np.array_equal(value, stock_vars[name]), name
    assert fast_parses == stock_parses


class _Recorder:
    """Stands in for stock's `RasaModel.load`: records that it ran."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, cls: Any, *args: Any, **kwargs: Any) -> str:
        self.calls.append(args)
        return "stock's model"


@pytest.mark.parametrize("outcome", ["raises", "unmatched"])
def test_stocks_load_runs_when_the_prediction_path_fails_or_leaves_a_variable_unread(
        monkeypatch: pytest.MonkeyPatch, outcome: str) -> None:
    stock = _Recorder()

    def by_predicting(*args: Any, **kwargs: Any) -> Any:
        if outcome == "raises":
            raise RuntimeError("checkpoint unreadable")
        return None  # a variable the prediction built found no value in the checkpoint

    monkeypatch.setattr(rasa_patches, "_load_by_predicting", by_predicting)
    load = rasa_patches._make_model_load(classmethod(stock)).__func__
    assert load(object, "weights.tf_model", "data", "predict data") == "stock's model"
    assert stock.calls == [("weights.tf_model", "data", "predict data", False)]


@pytest.mark.parametrize("finetune, predict_example", [(True, "predict data"), (False, None)])
def test_fine_tuning_or_a_load_without_a_prediction_example_is_stocks(
        monkeypatch: pytest.MonkeyPatch, finetune: bool, predict_example: Any) -> None:
    stock = _Recorder()
    monkeypatch.setattr(rasa_patches, "_load_by_predicting", lambda *a, **k: pytest.fail("not stock's path"))
    load = rasa_patches._make_model_load(classmethod(stock)).__func__
    assert load(object, "weights.tf_model", "data", predict_example, finetune) == "stock's model"
    assert len(stock.calls) == 1
