"""The per-call dialog state, encrypted at rest in `bot.channel_state`, and the step claims.

The state holds prompts and, briefly, a transcribed description awaiting confirmation, so it is
sealed with a `FieldCipher` whose key is derived from `SENDER_ID_KEY`. The last few rendered
answers ride along, so a retried step gets exactly the TwiML the first delivery got.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from bot.channel_state import ChannelState
from bot.privacy import FieldCipher
from bot.settings import secret
from channels.twilio_voice.settings import CHANNEL

TWIML_KEEP = 4  # answers kept per call for retries (Twilio retries only the latest step)


def call_state_cipher() -> FieldCipher:
    key = secret("SENDER_ID_KEY").encode()
    legacy = hmac.new(key, b"twilio_voice call state", hashlib.sha256).hexdigest().encode()  # the key before v2
    return FieldCipher(key, purpose="voice-call-state", legacy_secret=legacy)


class CallStates:
    """Load, save and forget one call's state; claim a (CallSid, step) pair once."""

    def __init__(self, state: ChannelState, cipher: FieldCipher | None = None) -> None:
        self.state = state
        self._cipher = cipher or call_state_cipher()

    @staticmethod
    def key(call_sid: str) -> str:
        return f"{CHANNEL}:call:{call_sid}"

    @staticmethod
    def _claim_key(call_sid: str, step: int) -> str:
        return f"{CHANNEL}:{call_sid}:{step}"

    async def claim(self, call_sid: str, step: int) -> bool:
        """True for the first delivery of this step (durably: a restart does not forget it)."""
        return await self.state.claim(self._claim_key(call_sid, step))

    async def release(self, call_sid: str, step: int) -> None:
        await self.state.release(self._claim_key(call_sid, step))

    async def load(self, call_sid: str) -> dict[str, Any]:
        blob = (await self.state.get(self.key(call_sid))).get("blob")
        if not blob:
            return {}
        return json.loads(self._cipher.decrypt(blob) or "{}")

    async def save(self, call_sid: str, call: dict[str, Any]) -> None:
        await self.state.update(self.key(call_sid), blob=self._cipher.encrypt(json.dumps(call, ensure_ascii=False)))

    async def forget(self, call_sid: str) -> None:
        await self.state.update(self.key(call_sid), blob=None)

    async def save_answer(self, call_sid: str, call: dict[str, Any], step: int, twiml: str) -> None:
        """Save the call with the answer of `step` among the last `TWIML_KEEP`."""
        answers = dict(call.get("twiml", {}))
        answers[str(step)] = twiml
        call["twiml"] = {k: answers[k] for k in sorted(answers, key=int)[-TWIML_KEEP:]}
        await self.save(call_sid, call)

    async def stored_answer(self, call_sid: str, step: int) -> tuple[str | None, str]:
        """The answer saved for `step` (or None) and the call's language."""
        call = await self.load(call_sid)
        twiml = call.get("twiml", {}).get(str(step))
        return (str(twiml) if twiml else None), str(call.get("lang") or "ar")
