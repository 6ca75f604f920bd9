"""Small, tested patches to Rasa 3.6 (frozen upstream), applied once in the Rasa process.

Each patch keeps Rasa's behaviour and fixes a cost; `tests/bot/test_rasa_patches.py` pins both.

- Action-server responses: `RemoteAction._validate_action_result` calls `jsonschema.validate`,
  which checks the schema against its meta-schema and builds a new validator on every call
  (about 10x the cost of validating the response itself; half of the Rasa process's busy CPU
  under load, issue 14). Here the validator is built once; an invalid response is still refused
  with the same `ValidationError`.
"""

from __future__ import annotations

import functools
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


def apply() -> None:
    """Idempotent; called when our connectors are imported (every Rasa process loads them)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _applied = True
