"""The model's graph runs without dask's scheduler after its first run (bot/rasa_patches.py): the
same nodes in the order dask called them, with the same arguments. Every parse and every policy
prediction must equal stock's (dask's) on the trained model, the fast path must really be taken,
and bad inputs must fail as stock fails."""

from __future__ import annotations

from typing import Any

import pytest

from bot import rasa_patches
from bot.launcher import MODEL, train_if_needed

pytestmark = pytest.mark.e2e

TEXTS = [
    "مرحبا", "بدي اشتكي على البلدية، الزبالة ما انشالت من اسبوعين", "أود تقديم شكوى بخصوص تأخر معاملتي في دائرة الأراضي",
    "shukran kteer 3ala el mo3amale el 7elwe bl ahwal el madaniyye", "la", "la2 mesh daroori", "نعم", "اه",
    "I want to report a bribe at the licensing department", "I suggest more buses between Irbid and Amman",
    "check the status of 4829103751", "بدي احكي مع موظف", "no", "yes", "bye", "مع السلامة", "/affirm", "/nosuchintent",
    "asdfgh", "", "the garbage hasn't been collected for two weeks", "shou sar b talabi", "قيّم الخدمة 5",
]


@pytest.fixture(scope="module")
def processor() -> Any:
    from rasa.core.agent import Agent

    rasa_patches.apply()
    train_if_needed()
    return Agent.load(str(MODEL)).processor


def _stock(runner: Any, **kwargs: Any) -> Any:
    return type(runner).run.__wrapped__(runner, **kwargs)


def _parse_inputs(text: str) -> dict[str, Any]:
    from rasa.core.channels.channel import UserMessage
    from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
    from rasa.shared.core.trackers import DialogueStateTracker

    return {PLACEHOLDER_MESSAGE: [UserMessage(text, sender_id="graph-test", message_id="graph-test-message")],
            PLACEHOLDER_TRACKER: DialogueStateTracker.from_events("graph-test", [])}


def test_every_parse_equals_dasks_and_the_recorded_plan_is_used(processor: Any) -> None:
    runner = processor.graph_runner
    runner.__dict__.pop(rasa_patches._PLANS, None)
    target = processor.model_metadata.nlu_target
    for text in TEXTS * 2:  # the first run records, the rest replay
        ours = runner.run(inputs=_parse_inputs(text), targets=[target])
        stock = _stock(runner, inputs=_parse_inputs(text), targets=[target])
        assert list(ours) == list(stock) == [target]
        assert [m.as_dict(only_output_properties=True) for m in ours[target]] == [m.as_dict(only_output_properties=True) for m in stock[target]], text
    plans = runner.__dict__[rasa_patches._PLANS]
    plan = plans[((target,), tuple(_parse_inputs("x")))]
    assert len(plan.steps) == len(plan.node_names) > 5  # every node of the cut graph, each once


def test_the_replay_calls_the_nodes_in_dasks_order(processor: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The order is the one dask chose on a fresh runner's first run, for the NLU graph and the
    policies' (every node call watched at the class)."""
    from rasa.engine.constants import PLACEHOLDER_TRACKER
    from rasa.engine.graph import GraphNode
    from rasa.shared.core.trackers import DialogueStateTracker

    runner = processor.graph_runner
    real_call = GraphNode.__call__
    order: list[str] = []

    def watched(self: Any, *args: Any) -> Any:
        order.append(self._node_name)
        return real_call(self, *args)

    monkeypatch.setattr(GraphNode, "__call__", watched)
    nlu, core = processor.model_metadata.nlu_target, processor.model_metadata.core_target
    tracker = DialogueStateTracker.from_events("graph-test", [], processor.domain.slots)
    for target, inputs in ((nlu, lambda: _parse_inputs("مرحبا")), (core, lambda: {PLACEHOLDER_TRACKER: tracker})):
        runner.__dict__.pop(rasa_patches._PLANS, None)
        runs = []
        for run in (runner.run, runner.run, runner.run, lambda **kw: _stock(runner, **kw)):
            order.clear()
            run(inputs=inputs(), targets=[target])
            runs.append(list(order))
        assert len(runs[0]) > 1 and runs[1] == runs[2] == runs[3] == runs[0], target
        assert runner.__dict__[rasa_patches._PLANS]  # the second and third runs replayed


def test_every_policy_prediction_equals_dasks(processor: Any) -> None:
    """Conversations of typed messages: after each, the next actions as the policies predict them
    (logged without running them), both ways on the same tracker."""
    from rasa.engine.constants import PLACEHOLDER_TRACKER
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    runner = processor.graph_runner
    runner.__dict__.pop(rasa_patches._PLANS, None)
    nlu, core = processor.model_metadata.nlu_target, processor.model_metadata.core_target
    compared = 0
    for start in range(0, len(TEXTS), 4):
        tracker = DialogueStateTracker.from_events("graph-test", [ActionExecuted("action_listen")], processor.domain.slots)
        for text in TEXTS[start:start + 4]:
            parsed = runner.run(inputs=_parse_inputs(text), targets=[nlu])[nlu][0]
            data = parsed.as_dict(only_output_properties=True)
            tracker.update(UserUttered(text, data.get("intent"), data.get("entities", []), parse_data=data))
            for _ in range(4):
                ours = runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=[core])[core]
                stock = _stock(runner, inputs={PLACEHOLDER_TRACKER: tracker}, targets=[core])[core]
                assert ours == stock, text
                compared += 1
                action = processor.domain.action_names_or_texts[ours.max_confidence_index]
                tracker.update(ActionExecuted(action, ours.policy_name, ours.max_confidence))
                if action == "action_listen":
                    break
    assert compared >= len(TEXTS)
    assert ((core,), (PLACEHOLDER_TRACKER,)) in runner.__dict__[rasa_patches._PLANS]


def test_an_input_named_like_a_node_is_refused_as_stock_refuses_it(processor: Any) -> None:
    from rasa.engine.exceptions import GraphRunError

    runner = processor.graph_runner
    runner.__dict__.pop(rasa_patches._PLANS, None)
    target = processor.model_metadata.nlu_target
    inputs = _parse_inputs("hello")
    runner.run(inputs=inputs, targets=[target])  # recorded
    clash = dict(inputs)
    clash[next(iter(clash))] = target  # an input's value names a node
    for run in (runner.run, lambda **kw: _stock(runner, **kw)):
        with pytest.raises(GraphRunError):
            run(inputs=clash, targets=[target])
