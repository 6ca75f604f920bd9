"""A menu choice typed as its number: the one rule for every channel and the actions.

Buttons reach people as numbered lists (SMS, long Messenger menus) and as buttons they may
answer by typing; "2", " ٢ ", "2.", "(2)" all pick the second option wherever one is offered.
"""

from __future__ import annotations

import re

from bot.arabic import fold_digits

_CHOICE = re.compile(r"^\s*[(\[]?\s*([0-9]{1,2})\s*[)\].\-:]?\s*$")


def parse_choice(text: str | None) -> int | None:
    """"2", " ٢ ", "2.", "(2)" -> 2; anything else (words, references, "12345") -> None."""
    if not text:
        return None
    m = _CHOICE.match(fold_digits(text).replace("\u200f", "").replace("\u200e", ""))
    return int(m.group(1)) if m else None
