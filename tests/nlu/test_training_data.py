"""The training data and the domain, checked with Rasa's own tools and the project's rules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from case_store import nlu_export

ROOT = Path(__file__).resolve().parents[2]
RASA = str(Path(sys.executable).with_name("rasa"))
DOMAIN = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))


def test_rasa_data_validate_passes_and_only_warns_about_utterances_sent_by_actions() -> None:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false"}
    out = subprocess.run(
        [RASA, "data", "validate", "--data", "nlu_data", "--domain", "domain.yml", "--config", "config.yml"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    logs = out.stdout + out.stderr
    assert "story structure conflicts found" not in logs.replace("No story structure conflicts found", "")
    # Rasa reports utterances that only custom actions send as "not used"; every one of them
    # must really be sent by an action, otherwise it is dead text.
    unused = set(re.findall(r"The utterance '(utter_\w+)' is not used in any story or rule", logs))
    action_code = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "actions").glob("*.py"))
    dead = {u for u in unused if f'"{u}"' not in action_code and not u.startswith("utter_ask_")}
    assert not dead, f"responses nobody sends: {sorted(dead)}"
    # Intents only our own connectors send (never typed, so never trained): Rasa notes they have
    # no NLU examples, which is the point (issue 13: a rating starts from a link, a keyword or a key).
    connector_only = [f"The intent '{i}' is listed in the domain file, but is not found in the NLU training data"
                      for i in CONNECTOR_ONLY_INTENTS]
    other = [line for line in logs.splitlines() if "UserWarning" in line and "is not used in any story" not in line
             and not any(c in line for c in connector_only)]
    assert not other, other


def test_catalogue_lookup_table_is_generated_from_the_current_catalogue() -> None:
    assert nlu_export.main(["--check"]) == 0, "run `make nlu-catalogue`"


CONNECTOR_ONLY_INTENTS = {"rate_centre"}  # channels.common.rate_centre_payload
# Responses whose whole text is a placeholder the action fills from bilingual data, in the
# person's language: the question of a campaign (case_store/data/campaigns.yml has ar and en).
FILLED_BY_ACTIONS = {"utter_ask_campaign_answer"}


def test_every_response_speaks_arabic_by_default_and_english_when_asked() -> None:
    for name, variants in DOMAIN["responses"].items():
        if name in FILLED_BY_ACTIONS:
            assert all(v["text"].strip() == "{question}" for v in variants), name
            continue
        english = [v for v in variants if {"type": "slot", "name": "language", "value": "en"} in (v.get("condition") or [])]
        arabic = [v for v in variants if v not in english]
        assert english, f"{name} has no English variant"
        assert arabic, f"{name} has no Arabic variant"
        for v in arabic:
            assert re.search(r"[\u0600-\u06FF]", v["text"]), f"{name}: Arabic variant is not in Arabic script"
        for v in english:
            letters = [c for c in v["text"] if c.isalpha()]
            assert sum(1 for c in letters if "\u0600" <= c <= "\u06ff") < len(letters) / 4, f"{name}: English variant looks Arabic"


def test_button_titles_fit_messenger_quick_replies_and_payloads_name_known_intents() -> None:
    intents = set(DOMAIN["intents"])
    for name, variants in DOMAIN["responses"].items():
        for v in variants:
            buttons = v.get("buttons") or []
            assert len(buttons) <= 13, name
            for b in buttons:
                assert len(b["title"]) <= 20, f"{name}: {b['title']!r} is longer than Messenger's 20 characters"
                intent = re.match(r"^/(\w+)", b["payload"])
                assert intent and intent.group(1) in intents, f"{name}: payload {b['payload']}"


def test_every_intent_of_the_design_is_in_the_domain() -> None:
    design = {"ask_government", "suggest", "compliment", "complain", "report_violation", "check_status", "rate_request",
              "greet", "goodbye", "affirm", "deny", "help", "switch_language", "human_handoff", "out_of_scope"}
    assert design <= set(DOMAIN["intents"])


def test_heldout_requests_never_appear_in_training_data() -> None:
    """Content-bearing held-out messages must be unseen; short closed-class ones ("yes", "bye")
    inevitably repeat, and bench/nlu_report.py drops those duplicates before scoring."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot.arabic import normalise

    train = set()
    files = sorted((ROOT / "nlu_data").glob("nlu_*.yml"))
    assert len(files) >= 8, files
    for f in files:
        train |= {normalise(m.get("text")) for m in load_data(str(f)).intent_examples}
    content = {"ask_government", "suggest", "compliment", "complain", "report_violation", "check_status", "rate_request"}
    for heldout in ("heldout.yml", "heldout_blind2.yml"):
        held = {normalise(m.get("text")) for m in load_data(str(ROOT / "tests" / "nlu" / heldout)).intent_examples
                if m.get("intent") in content}
        assert len(held) > 200, heldout
        overlap = train & held
        assert not overlap, (heldout, sorted(overlap)[:10])


def test_button_payloads_survive_rasas_template_filling() -> None:
    """Rasa fills {placeholders} in buttons too: JSON in a domain payload must be written with
    doubled braces, or Rasa logs an error per button and leaves it to luck."""
    import json

    from rasa.core.nlg.interpolator import interpolate

    for name, variants in DOMAIN["responses"].items():
        for v in variants:
            for b in v.get("buttons") or []:
                raw = b["payload"]
                if "{" in raw:
                    assert "{{" in raw and raw.endswith("}}"), f"{name}: {raw} needs doubled braces"
                # Placeholders inside a payload (e.g. the centre code of a complaint offer) are
                # filled by the action that sends the response.
                out = interpolate(raw, {k: "1" for k in re.findall(r"(?<!\{)\{(\w+)\}(?!\})", raw)})
                intent, _, body = out.partition("{")
                assert re.fullmatch(r"/\w+", intent), f"{name}: {out}"
                if body:
                    assert isinstance(json.loads("{" + body), dict), f"{name}: {out}"


def test_no_training_text_is_labelled_with_two_intents() -> None:
    """After Arabic normalisation, case and end punctuation, one text means one intent."""
    from collections import defaultdict

    from rasa.shared.nlu.training_data.loading import load_data

    from bot.arabic import normalise

    labels: dict[str, set[str]] = defaultdict(set)
    for f in sorted((ROOT / "nlu_data").glob("nlu_*.yml")):
        for m in load_data(str(f)).intent_examples:
            labels[normalise(m.get("text")).lower().strip(" ?!.؟،,")].add(m.get("intent"))
    assert len(labels) > 3000
    conflicts = {t: sorted(i) for t, i in labels.items() if len(i) > 1}
    assert not conflicts, list(conflicts.items())[:10]
