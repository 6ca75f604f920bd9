"""Parse a JSON body from an untrusted client within fixed limits, or refuse it as bad input.

Every endpoint (webhooks, the agent console, the case store, the REST channel) parses through
`parse_json`, so a hostile body gets a 4xx and never a 5xx: Python's `json` module raises
RecursionError on deeply nested input ("[" * 5000), and a huge body costs time before any
check runs. Size is checked first, then nesting depth with a linear scan that skips strings,
then the parse itself.
"""

from __future__ import annotations

import json
from typing import Any

MAX_BODY_BYTES = 64 * 1024  # a Messenger batch or a filled-in request is far below this
MAX_DEPTH = 32  # the deepest legitimate body (Messenger: entry → messaging → message → …) is < 10


class BadJson(ValueError):
    """The body is too large, too deep, not UTF-8 or not JSON. `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def nesting_depth(raw: str) -> int:
    """The deepest bracket nesting outside string literals (0 for a scalar)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in raw:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def parse_json(raw: bytes | str | None, *, max_bytes: int = MAX_BODY_BYTES, max_depth: int = MAX_DEPTH,
               expect: type | tuple[type, ...] | None = dict) -> Any:
    """The parsed body; raises BadJson ("too_large", "too_deep", "not_utf8", "not_json",
    "wrong_type") for anything else. `expect=None` accepts any JSON value."""
    if raw is None or raw == b"" or raw == "":
        raise BadJson("not_json")
    if len(raw) > max_bytes:
        raise BadJson("too_large")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadJson("not_utf8") from None
    else:
        text = raw
    if nesting_depth(text) > max_depth:
        raise BadJson("too_deep")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BadJson("not_json") from None
    if expect is not None and not isinstance(value, expect):
        raise BadJson("wrong_type")
    return value
