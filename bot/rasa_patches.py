"""Small, tested patches to Rasa 3.6 (frozen upstream), applied once in the Rasa process.

Each patch keeps Rasa's behaviour and fixes a cost; `tests/bot/test_rasa_patches.py` pins both.

- Action-server responses: `RemoteAction._validate_action_result` calls `jsonschema.validate`,
  which checks the schema against its meta-schema and builds a new validator on every call
  (about 10x the cost of validating the response itself; half of the Rasa process's busy CPU
  under load, issue 14). Here the validator is built once; an invalid response is still refused
  with the same `ValidationError`.
- Action server down or failing: Rasa logs the error and the turn ends in silence (the person
  sees nothing). Here the person gets `utter_backend_unavailable` in their language, once per
  turn, straight through the output channel, and the error then takes Rasa's own path (the
  action's events are dropped), so the form and its slots stay as they were and the next message
  after the action server is back carries on. A rejection (validation said no) is still Rasa's.
"""

from __future__ import annotations

import functools
from collections import OrderedDict
from typing import Any

_applied = False


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)  # once, as jsonschema.validate would on every call
    return cls(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_action_response_validator().iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response from "
            f"the Action endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


UNAVAILABLE_RESPONSE = "utter_backend_unavailable"


_apologised: OrderedDict[tuple[str, str | None], None] = OrderedDict()  # (sender, user message id), bounded


def _make_run(stock_run: Any) -> Any:
    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> list[Any]:
        from rasa.core.actions.action import ActionExecutionRejection
        from rasa.shared.exceptions import RasaException

        try:
            return await stock_run(self, output_channel, nlg, tracker, domain)  # type: ignore[no-any-return]
        except ActionExecutionRejection:
            raise
        except RasaException:
            # Rasa logs which action failed (no message text); the person hears from us once a turn.
            latest = getattr(tracker, "latest_message", None)
            key = (tracker.sender_id, getattr(latest, "message_id", None))
            if key not in _apologised:
                _apologised[key] = None
                while len(_apologised) > 10_000:
                    _apologised.popitem(last=False)
                message = await nlg.generate(UNAVAILABLE_RESPONSE, tracker, output_channel.name())
                if message:
                    await output_channel.send_response(tracker.sender_id, message)
            raise

    run.__wrapped__ = stock_run  # type: ignore[attr-defined]
    return run


def apply() -> None:
    """Idempotent; called when our connectors are imported (every Rasa process loads them)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction.run = _make_run(RemoteAction.run)  # type: ignore[method-assign]
    _applied = True
