"""What one bot turn asks of the caller, read from the messages Rasa collected (pure).

Voice is "collect, then render": Rasa answers into `TwilioVoiceCollectingOutput`; `analyse`
says what kind of answer the turn expects (a menu, a spoken description, a reference...) from
the buttons and the domain's `custom: {voice: {...}}` conventions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel

from bot import refcode
from channels.twilio_voice.settings import CHANNEL

AGENT_DIGIT = "0"
MORE_DIGIT = "9"
PAGE_SIZE = 8  # with more than 9 choices: 8 per page, 9 = more


class TwilioVoiceCollectingOutput(CollectingOutputChannel):
    """Collects one turn of the bot's messages; `render` turns them into TwiML."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


def payload_key(payload: str) -> str:
    """A button payload with its entities in one canonical spelling (the phrase-table key)."""
    payload = payload.strip()
    m = re.match(r"^(/[a-z_]+)(\{.*\})?$", payload, re.DOTALL)
    if not m or not m.group(2):
        return payload
    try:
        entities = json.loads(m.group(2))
    except ValueError:
        return payload
    return m.group(1) + json.dumps(entities, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _is_handoff(button: Mapping[str, Any]) -> bool:
    return str(button.get("payload", "")).strip().startswith("/human_handoff")


@dataclass(frozen=True)
class Turn:
    """What one bot turn asks of the caller."""

    texts: tuple[str, ...]
    buttons: tuple[dict[str, Any], ...]
    expect: str | None
    sms_reference: str | None
    hangup: bool
    share_number: bool = False  # "press 1 to use the number you're calling from"

    @property
    def numbered(self) -> list[dict[str, Any]]:
        return [b for b in self.buttons if not _is_handoff(b)]

    @property
    def has_handoff(self) -> bool:
        return any(_is_handoff(b) for b in self.buttons)

    @property
    def kind(self) -> str:
        if self.hangup:
            return "hangup"
        if self.sms_reference:
            return "offer_sms"
        if self.expect == "free_text":
            return "free_text"
        if self.expect == "reference":
            return "reference"
        if self.buttons:
            return "menu"
        return "open"

    @property
    def pages(self) -> int:
        n = len(self.numbered)
        return 1 if n <= 9 else -(-n // PAGE_SIZE)

    def options(self, page: int = 0) -> dict[str, str]:
        """Keypad digit -> payload offered on `page` ("0" the agent, "9" more when paged)."""
        numbered = self.numbered
        if self.kind == "offer_sms" and not numbered:
            return {"1": "/affirm", "2": "/deny"}
        if len(numbered) <= 9:
            shown = numbered
            out = {str(i + 1): str(b.get("payload", "")) for i, b in enumerate(shown)}
        else:
            page %= self.pages
            shown = numbered[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
            out = {str(i + 1): str(b.get("payload", "")) for i, b in enumerate(shown)}
            out[MORE_DIGIT] = "#more"
        return out

    def page_buttons(self, page: int = 0) -> list[dict[str, Any]]:
        numbered = self.numbered
        if len(numbered) <= 9:
            return numbered
        page %= self.pages
        return numbered[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]


def analyse(messages: Sequence[Mapping[str, Any]]) -> Turn:
    texts: list[str] = []
    buttons: tuple[dict[str, Any], ...] = ()
    expect = sms = None
    hangup = share = False
    for m in messages:
        if m.get("text"):
            texts.append(str(m["text"]))
        if m.get("buttons"):
            buttons = tuple(dict(b) for b in m["buttons"])
        custom = m.get("custom")
        voice = custom.get("voice") if isinstance(custom, dict) else None
        if isinstance(voice, dict):
            expect = voice.get("expect", expect)
            if voice.get("offer_sms_reference"):
                sms = refcode.canonical_digits(str(voice["offer_sms_reference"]))
            hangup = hangup or bool(voice.get("hangup"))
            share = share or bool(voice.get("share_caller_number"))
    return Turn(tuple(texts), buttons, expect, sms, hangup, share)


def reprompt_messages(messages: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """On a re-prompt, repeat the question (the last message with buttons or text), not the turn."""
    last = None
    for i, m in enumerate(messages):
        if m.get("buttons"):
            last = i
    if last is None:
        for i, m in enumerate(messages):
            if m.get("text"):
                last = i
    if last is None:
        return [dict(m) for m in messages]
    kept = [dict(m) for m in messages[last:]]
    kept += [dict(m) for m in messages[:last] if m.get("custom") and not m.get("text")]
    return kept
