"""The call flow: one step of one call.

Reads the caller's keypad digits, speech or recording in the light of what the last answer
asked (`mode` in the call state: language menu, a bot turn, read-back, recording, reference
entry, agent offer, after hours), decides the next prompt, possibly after a turn of the bot,
and renders it. Silence and no-match re-prompt a bounded number of times, then offer an agent.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rasa.core.channels.channel import UserMessage

from bot import refcode
from bot.inbound import clean_user_text
from bot.lang import message_language, requested_language
from bot.privacy import keyed_id, phone_identity, seal_address
from channels.twilio_voice.render import render, t
from channels.twilio_voice.settings import CHANNEL, SENDER_CHANNEL
from channels.twilio_voice.turn import AGENT_DIGIT, TwilioVoiceCollectingOutput, analyse, reprompt_messages
from channels.twilio_voice.words import AGENT_WORDS, NO_WORDS, YES_WORDS, is_short, match_option, says_any

if TYPE_CHECKING:
    from channels.twilio_voice.wiring import TwilioVoiceInput

logger = logging.getLogger("channels.twilio_voice")

MAX_REPROMPTS = 2  # silence or no match: re-prompt twice, then offer an agent
MAX_TOTAL_NOINPUT = 6  # across the whole call, whatever resets in between
MAX_SPEECH_FAILURES = 2  # a description not recognised twice is recorded instead
MAX_STEPS = 150  # a call never loops forever


@dataclass
class Inbound:
    digits: str
    speech: str
    recording_url: str | None
    recording_seconds: int
    caller: str | None  # raw From: memory only, never logged or stored


class CallFlow:
    """One step of one call: read the caller's input in the light of what was asked, decide the
    next prompt (possibly after a turn of the bot), and render it."""

    def __init__(
        self, channel: TwilioVoiceInput, call: dict[str, Any], call_sid: str, step: int, inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        self.ch, self.call, self.call_sid, self.inbound, self.on_new_message = channel, call, call_sid, inbound, on_new_message
        self.call["step"] = max(int(call.get("step", 0)), step) + 1  # the step our answer's actions carry
        self.call["steps"] = int(call.get("steps", 0)) + 1
        self.call.pop("notice", None)

    @property
    def lang(self) -> str:
        return str(self.call.get("lang") or "ar")

    def _known_caller(self) -> str | None:
        """The caller's number when Twilio gave a real one (not withheld)."""
        caller = self.inbound.caller
        if caller and caller.lower() not in ("anonymous", "restricted", "unknown") and re.search(r"\d{5,}", caller):
            return caller
        return None

    def sender_id(self) -> str:
        caller = self._known_caller()
        return keyed_id(SENDER_CHANNEL, caller if caller else f"anonymous:{self.call_sid}")

    def render(self, messages: Sequence[Mapping[str, Any]] | None = None) -> str:
        # Repeating a prompt (re-prompt, next page, "say it again") repeats the question only.
        prompt = messages if messages is not None else reprompt_messages(self.call.get("prompt", []))
        return render(prompt, self.call, self.ch.settings)

    def set_mode(self, mode: str, **extra: Any) -> str:
        self.call["mode"] = mode
        self.call.update(extra)
        return self.render()

    async def advance(self) -> str:
        if self.call["steps"] > MAX_STEPS:
            return self.set_mode("goodbye")
        mode = self.call.get("mode")
        if mode is None:
            self.call.update(noinput=0, total_noinput=0, speech_failures=0)
            return self.set_mode("language_menu")
        handler = getattr(self, f"on_{mode}", None)
        if handler is None or mode in ("transfer", "goodbye"):
            return self.set_mode("goodbye")
        return str(await handler())

    # -- outcomes ---------------------------------------------------------------------------

    def no_input(self, notice: str = "no_input") -> str:
        self.call["noinput"] = int(self.call.get("noinput", 0)) + 1
        self.call["total_noinput"] = int(self.call.get("total_noinput", 0)) + 1
        mode = self.call.get("mode")
        if self.call["total_noinput"] > MAX_TOTAL_NOINPUT:
            return self.set_mode("goodbye")
        if self.call["noinput"] <= MAX_REPROMPTS:
            self.call["notice"] = notice
            return self.render()
        if mode in ("agent_offer", "after_hours") or not self.ch.agents_on_duty():
            return self.set_mode("goodbye")
        self.call["resume"] = mode
        return self.set_mode("agent_offer")

    def agent(self) -> str:
        if self.ch.agents_on_duty():
            logger.info("twilio_voice: transfer to the contact center")
            return self.set_mode("transfer")
        if self.call.get("mode") not in ("after_hours", "agent_offer"):
            self.call["resume"] = self.call.get("mode")
        self.call["noinput"] = 0
        return self.set_mode("after_hours")

    def resume(self) -> str:
        self.call["noinput"] = 0
        self.call["mode"] = self.call.pop("resume", None) or "language_menu"
        return self.render()

    async def bot_turn(self, text: str, input_kind: str, extra_metadata: Mapping[str, Any] | None = None) -> str:
        metadata: dict[str, Any] = {"channel": SENDER_CHANNEL, "call_sid": self.call_sid, "input": input_kind, "language": self.lang}
        if not self.call.get("started"):
            metadata["call_start"] = True
        caller = self._known_caller()
        if caller:
            # A pseudonym of the number (never the number): the same person over SMS and the IVR.
            metadata["caller_key"] = phone_identity(caller)
        metadata.update(extra_metadata or {})
        collector = TwilioVoiceCollectingOutput()
        await self.on_new_message(
            UserMessage(text, collector, self.sender_id(), input_channel=CHANNEL, metadata=metadata,
                        message_id=f"{self.call_sid}:{self.call['step'] - 1}")
        )
        self.call["started"] = True
        messages = [m for m in collector.messages if m.get("text") or m.get("buttons") or m.get("custom")]
        for m in messages:
            m.pop("recipient_id", None)
        turn = analyse(messages)
        if turn.texts:
            self.call["lang"] = message_language(turn.texts[-1], self.lang)
        self.call.update(mode="bot", prompt=messages, page=0, noinput=0, speech_failures=0, options=turn.options(0))
        self.call.pop("pending_text", None)
        return self.render(messages)

    async def choose(self, payload: str) -> str:
        if payload.strip() == "/check_status":  # the connector takes the number itself (keypad + check digit)
            self.call["noinput"] = 0
            return self.set_mode("reference_entry")
        if payload.strip().startswith("/human_handoff"):
            return self.agent()
        extra = None
        caller = self._known_caller()
        if payload.strip() == "/affirm" and caller and analyse(self.call.get("prompt", [])).share_number:
            # The caller agreed, on this very question, that we keep the number they call from.
            extra = {"reply_address": seal_address(caller), "number_consent": True}
        return await self.bot_turn(payload, "dtmf", extra)

    async def reference(self, digits_or_speech: str) -> str:
        try:
            reference = refcode.parse(digits_or_speech)
        except refcode.ReferenceError_:
            return self.no_input("bad_reference")
        return await self.bot_turn(f'/check_status{{"reference": "{reference}"}}', "dtmf")

    # -- handlers per mode ------------------------------------------------------------------

    async def on_language_menu(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == AGENT_DIGIT or (s and is_short(s) and (says_any(s, AGENT_WORDS["ar"]) or says_any(s, AGENT_WORDS["en"]))):
            return self.agent()
        choice = {"1": "ar", "2": "en"}.get(d)
        if not choice and s:
            choice = requested_language(s)
        if not choice:
            return self.no_input("no_match" if (d or s) else "no_input")
        self.call["lang"] = choice
        return await self.bot_turn(f'/switch_language{{"language":"{choice}"}}', "dtmf" if d else "speech")

    async def on_bot(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        turn = analyse(self.call.get("prompt", []))
        kind = turn.kind
        if kind == "hangup":
            return self.set_mode("goodbye")
        if d.rstrip("#") == AGENT_DIGIT:
            return self.agent()
        if kind != "free_text" and s and is_short(s) and says_any(s, AGENT_WORDS[self.lang]):
            return self.agent()
        options = turn.options(int(self.call.get("page", 0)))
        if kind == "free_text":
            return self._free_text()
        if kind == "reference":
            if not (d or s):
                return self.no_input()
            return await self.reference(d or s)
        if kind == "offer_sms":
            if d:
                if d not in options:
                    return self.no_input("no_match")
                yes, payload = d == "1", options[d]
            elif s and (says_any(s, YES_WORDS) or says_any(s, NO_WORDS)):
                yes = says_any(s, YES_WORDS) and not says_any(s, NO_WORDS)
                payload = options.get("1" if yes else "2", "/affirm" if yes else "/deny")
            else:
                return self.no_input("no_match" if s else "no_input")
            extra: dict[str, Any] = {}
            if yes and turn.sms_reference and self.inbound.caller and refcode.is_valid_digits(turn.sms_reference):
                # The one place the raw number leaves the connector: the caller agreed to the SMS.
                self.ch.send_reference_sms(self.inbound.caller, turn.sms_reference, self.lang)
                extra = {"reply_address": seal_address(self.inbound.caller), "sms_consent": True}
            return await self.bot_turn(payload, "dtmf" if d else "speech", extra)
        if kind == "menu":
            if d:
                chosen = options.get(d)
                if chosen == "#more":
                    self.call["page"] = (int(self.call.get("page", 0)) + 1) % turn.pages
                    self.call["options"] = turn.options(self.call["page"])
                    return self.render()
                if chosen:
                    self.call["noinput"] = 0
                    return await self.choose(chosen)
                return self.no_input("no_match")
            if s:
                spoken_choice = match_option(s, turn, options)
                if spoken_choice and spoken_choice != "#more":
                    return await self.choose(spoken_choice)
                return await self._speech_to_bot(s)
            return self.no_input()
        # open question: digits (e.g. a phone's last digits) or speech go to the bot
        if d:
            return await self.bot_turn(d.rstrip("#"), "dtmf")
        if s:
            return await self._speech_to_bot(s)
        return self.no_input()

    async def _speech_to_bot(self, speech: str) -> str:
        cleaned = clean_user_text(speech)
        if cleaned.problem:
            return self.no_input("no_match")
        return await self.bot_turn(cleaned.text, "speech")

    def _free_text(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if s:
            cleaned = clean_user_text(s)
            if not cleaned.problem:
                self.call["noinput"] = 0
                return self.set_mode("readback", pending_text=cleaned.text)
        return self._speech_failed("no_match" if d else "no_input")

    def _speech_failed(self, notice: str) -> str:
        self.call["speech_failures"] = int(self.call.get("speech_failures", 0)) + 1
        self.call["total_noinput"] = int(self.call.get("total_noinput", 0)) + 1
        if self.call["total_noinput"] > MAX_TOTAL_NOINPUT:
            return self.set_mode("goodbye")
        if self.call["speech_failures"] >= MAX_SPEECH_FAILURES:
            self.call["noinput"] = 0
            return self.set_mode("record")
        self.call["notice"] = notice
        return self.set_mode("bot")

    async def on_readback(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == AGENT_DIGIT:
            return self.agent()
        yes = d == "1" or (not d and s and is_short(s) and says_any(s, YES_WORDS) and not says_any(s, NO_WORDS))
        no = d == "2" or (not d and s and is_short(s) and says_any(s, NO_WORDS))
        if yes:
            text = str(self.call.pop("pending_text", ""))
            return await self.bot_turn(text, "speech")
        if no:
            self.call.pop("pending_text", None)
            failures = int(self.call.get("speech_failures", 0)) + 1
            self.call["speech_failures"] = failures
            if failures >= MAX_SPEECH_FAILURES:
                return self.set_mode("record")
            return self.set_mode("bot")  # ask the question again
        return self.no_input("no_match" if (d or s) else "no_input")

    async def on_record(self) -> str:
        url, seconds = self.inbound.recording_url, self.inbound.recording_seconds
        if url and seconds > 0:
            placeholder = t(self.lang, "(voice recording)")
            return await self.bot_turn(placeholder, "recording", {"attachments": [{"url": url, "media_type": "audio/x-wav"}]})
        return self.no_input()

    async def on_reference_entry(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d.rstrip("#") == AGENT_DIGIT:
            return self.agent()
        if not (d or s):
            return self.no_input()
        return await self.reference(d or s)

    async def on_agent_offer(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == AGENT_DIGIT or (not d and s and says_any(s, AGENT_WORDS[self.lang])):
            return self.agent()
        if d == "1":
            return self.resume()
        return self.set_mode("goodbye")

    async def on_after_hours(self) -> str:
        d, s = self.inbound.digits, self.inbound.speech
        if d == "1" or (not d and s and says_any(s, YES_WORDS)):
            return self.resume()
        if d == "2" or (not d and s and says_any(s, NO_WORDS)):
            return self.set_mode("goodbye")
        return self.no_input("no_match" if (d or s) else "no_input")
