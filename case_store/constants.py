"""The case store's own closed vocabularies (docs/CONTRACTS.md); the schema CHECKs use them too.

Request types, pillars and importance are shared with the bot and live in `bot.request_rules`;
the languages in `bot.lang`.
"""

from __future__ import annotations

import datetime as dt

# datetime.UTC only exists from Python 3.11; Rasa 3.6 pins us to 3.10.
UTC = dt.timezone.utc

CHANNELS = ("messenger", "sms", "voice", "contact_center", "web", "shell")
STATUSES = ("submitted", "in_progress", "answered", "closed", "rejected", "reopened")
EVENTS = ("created", "status_changed", "answered", "escalated", "reopened", "official_notice")
# `official_notice` goes to the official at the next level (the catalogue's contact), never to
# the citizen; `escalated` is the citizen's notice of the same escalation.

# Statuses a request can still move out of on its own; escalation only looks at these.
OPEN_STATUSES = ("submitted", "in_progress", "reopened")

# Back-office transitions (POST /status). `reopened` is only reachable through the citizen's
# /reopen endpoint, so it is deliberately absent from every target set here.
TRANSITIONS: dict[str, frozenset[str]] = {
    "submitted": frozenset({"in_progress", "rejected"}),
    "in_progress": frozenset({"answered", "rejected"}),
    "answered": frozenset({"closed"}),
    "closed": frozenset(),
    "rejected": frozenset(),
    "reopened": frozenset({"in_progress", "answered"}),
}
REOPENABLE = frozenset({"answered", "closed"})
RATABLE = frozenset({"answered", "closed"})

# The outbox event a status change produces.
EVENT_FOR_STATUS = {"answered": "answered", "reopened": "reopened"}

MAX_BODY_BYTES = 64 * 1024
MAX_DESCRIPTION_CHARS = 8000
# Row ids are INTEGER columns: 32-bit on PostgreSQL. A larger id in a path or cursor is refused
# as out of range before it reaches a driver that cannot bind it.
MAX_ID = 2**31 - 1
