"""Twilio Voice: the IVR of the national contact center (06 5008080), Arabic first.

The package, one role per module:

- `wiring` (`TwilioVoiceInput`): credentials, the Sanic routes, the signature check
  (`X-Twilio-Signature` against `PUBLIC_BASE_URL` + path + query, before anything is read),
  the per-turn deadline, and one step per request.
- `flow` (`CallFlow`): what the caller's keypad digits, speech or recording mean at the current
  step of the call (a menu choice, a reference, a description to read back...).
- `turn` and `words`: what a bot turn asks (menu, free text, reference...) and what short
  speech means at a menu; pure.
- `render` (`render`): one pure function from the bot's collected messages and the call state
  to TwiML, built with Twilio's `VoiceResponse`. Voice is "collect, then render": Rasa answers
  into `TwilioVoiceCollectingOutput`, and the whole turn becomes one TwiML document.
- `state` (`CallStates`): the per-call state in `bot.channel_state`, encrypted at rest.
- `settings` (`VoiceSettings`): configuration, checked when built.

Steps. Every answer's `<Gather>`/`<Record>` posts back to `.../webhook?step=N`. The first request
for a (CallSid, step) pair claims it in `channel_state` and is processed; the rendered TwiML is
stored with the call, and a retry of the same step gets exactly that TwiML back, without a
second message to Rasa.

Privacy. The tracker sender id is `keyed_id("voice", From)`. The raw number is never logged and
never stored by this package; it travels in the UserMessage metadata (`reply_address`) only on
the turn where the caller agreed to receive the reference by SMS. The call state (which holds
prompts and, briefly, a transcribed description awaiting confirmation) is encrypted at rest.

Conventions the bot relies on (set in the domain's responses, `custom: {voice: {...}}`):
`expect: "free_text"` (a spoken description follows: read back, confirm, else record),
`expect: "reference"` (a request number follows: keypad + check digit),
`offer_sms_reference: "<10 digits>"` (press 1 to receive it by SMS), `hangup: true` (end the call),
`share_caller_number: true` (pressing 1 / "yes" sends the caller's number, sealed, with the answer).
"""

from channels.twilio_voice.flow import CallFlow, Inbound
from channels.twilio_voice.render import render
from channels.twilio_voice.settings import CHANNEL, DEFAULT_CATALOGUE, VoiceSettings, load_entity_hints
from channels.twilio_voice.state import CallStates
from channels.twilio_voice.turn import Turn, TwilioVoiceCollectingOutput, analyse
from channels.twilio_voice.wiring import TwilioVoiceInput, make_sms_sender

__all__ = [
    "CHANNEL",
    "DEFAULT_CATALOGUE",
    "CallFlow",
    "CallStates",
    "Inbound",
    "Turn",
    "TwilioVoiceCollectingOutput",
    "TwilioVoiceInput",
    "VoiceSettings",
    "analyse",
    "load_entity_hints",
    "make_sms_sender",
    "render",
]
