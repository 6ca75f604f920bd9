"""The rule policy's rule matching, remembered per loaded policy (bot/rasa_patches.py): the same
answer as stock's for every states it is asked about, first time and after, on the trained model."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from bot import rasa_patches
from bot.launcher import MODEL, train_if_needed


@pytest.fixture(scope="module")
def policy() -> Any:
    from rasa.core.agent import Agent
    from rasa.core.policies.rule_policy import RulePolicy

    rasa_patches.apply()
    train_if_needed()
    processor = Agent.load(str(MODEL)).processor
    return next(node._component for node in processor.graph_runner._instantiated_nodes.values()
                if isinstance(getattr(node, "_component", None), RulePolicy))


def _samples(policy: Any, lookup: dict[str, str], seed: int, n: int = 200) -> list[list[dict[str, Any]]]:
    """States as the policy sees them: the tails of its rules' own states, and splices of two
    rules' (states no rule was written for), some of them with a feature changed."""
    rng = random.Random(seed)
    keys = sorted(lookup)
    out = []
    for _ in range(n):
        states = [dict(s) for s in policy._rule_key_to_state(rng.choice(keys))]
        if rng.random() < 0.4:
            other = [dict(s) for s in policy._rule_key_to_state(rng.choice(keys))]
            states = other[: rng.randint(0, len(other))] + states[rng.randint(0, len(states) - 1):]
        if states and rng.random() < 0.3:
            last = states[-1]
            last["prev_action"] = {"action_name": rng.choice(["action_listen", "report_form", "utter_greet"])}
        out.append(states[-rng.randint(1, max(1, len(states))):])
    return out


@pytest.mark.parametrize("seed", range(3))
def test_remembered_rule_matches_are_stocks_first_time_and_after(policy: Any, seed: int) -> None:
    from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH

    stock = type(policy)._get_possible_keys.__wrapped__
    assert policy.__dict__.get(rasa_patches._RULES_LOADED), "a loaded policy remembers"
    matched = 0
    for name in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
        lookup = policy.lookup[name]
        samples = _samples(policy, lookup, seed)
        for _ in range(2):  # computed, then remembered
            for states in samples:
                want = stock(policy, lookup, states)
                got = policy._get_possible_keys(lookup, states)
                assert got == want, states
                matched += bool(want)
                got.add("not a rule")  # the caller's set: what is remembered stays as it was
    assert matched > 100, "the samples match rules, not only nothing"
    assert len(policy.__dict__[rasa_patches._POSSIBLE_KEYS]) > 50


def test_the_two_lookups_are_remembered_apart(policy: Any) -> None:
    from rasa.core.policies.rule_policy import RULES, RULES_FOR_LOOP_UNHAPPY_PATH

    states = policy._rule_key_to_state(sorted(policy.lookup[RULES_FOR_LOOP_UNHAPPY_PATH])[0])
    stock = type(policy)._get_possible_keys.__wrapped__
    for name in (RULES, RULES_FOR_LOOP_UNHAPPY_PATH, RULES, RULES_FOR_LOOP_UNHAPPY_PATH):
        assert policy._get_possible_keys(policy.lookup[name], states) == stock(policy, policy.lookup[name], states)


def test_a_policy_in_training_is_never_remembered_for(policy: Any) -> None:
    training = copy.copy(policy)
    training.__dict__ = {k: v for k, v in policy.__dict__.items() if k not in (rasa_patches._RULES_LOADED, rasa_patches._POSSIBLE_KEYS)}
    lookup = dict(policy.lookup["rules"])
    states = policy._rule_key_to_state(sorted(lookup)[0])
    before = training._get_possible_keys(lookup, states)
    lookup.pop(next(iter(before)))  # training changes its lookup as it goes
    assert training._get_possible_keys(lookup, states) == before - set(policy.lookup["rules"]).difference(lookup)
    assert rasa_patches._POSSIBLE_KEYS not in training.__dict__


def test_what_is_remembered_is_bounded(policy: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rasa_patches, "POSSIBLE_KEYS_REMEMBERED", 5)
    lookup = policy.lookup["rules"]
    for states in _samples(policy, lookup, seed=9, n=40):
        policy._get_possible_keys(lookup, states)
    assert len(policy.__dict__[rasa_patches._POSSIBLE_KEYS]) <= 5
