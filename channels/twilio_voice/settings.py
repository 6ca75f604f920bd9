"""What the IVR is configured with: voices, speech languages, URLs, timeouts, speech hints.

Checked when built (a bad value raises `ConfigError` naming the variable and what is allowed),
so a misconfigured connector fails at start-up, not on a caller's first turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.settings import ROOT, ConfigError

CHANNEL = "twilio_voice"  # the credentials.yml key, the Rasa input/output channel name
SENDER_CHANNEL = "voice"  # the keyed-id namespace and the `channel` metadata the actions read
DEFAULT_CATALOGUE = ROOT / "case_store" / "data" / "catalogue.yml"
# Twilio answers a webhook within 15 s or gives up; a turn must leave room for the network.
MAX_TURN_DEADLINE_SECONDS = 12.0
_VOICE_NAME = re.compile(r"^(Polly\.[A-Za-z]+(-Neural)?|Google\.[A-Za-z]{2}-[A-Z]{2}-[\w-]+|man|woman|alice)$")
_LOCALE = re.compile(r"^[a-z]{2}-[A-Z]{2}$")


@dataclass(frozen=True)
class VoiceSettings:
    """What rendering needs; built once per connector and checked when built."""

    public_base_url: str
    webhook_path: str = f"/webhooks/{CHANNEL}/webhook"
    voice_ar: str = "Polly.Zeina"
    voice_en: str = "Polly.Joanna"
    locale_ar: str = "ar-JO"
    locale_en: str = "en-US"
    gather_timeout: int = 6
    queue: str = "contact-center"
    agent_number: str | None = None
    entity_hints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hours_text: Mapping[str, str] = field(default_factory=dict)
    turn_deadline: float = 8.0  # seconds before a slow turn is answered "one moment"

    def __post_init__(self) -> None:
        for name, value in (("VOICE_AR", self.voice_ar), ("VOICE_EN", self.voice_en)):
            if not _VOICE_NAME.match(value):
                raise ConfigError(f"Config '{name}' is {value!r}; use a Twilio voice such as 'Polly.Zeina' (Arabic) or 'Polly.Joanna'.")
        for name, value in (("VOICE_AR_LOCALE", self.locale_ar), ("VOICE_EN_LOCALE", self.locale_en)):
            if not _LOCALE.match(value):
                raise ConfigError(f"Config '{name}' is {value!r}; use a Twilio speech language such as 'ar-JO' or 'en-US'.")
        if not 1 <= self.gather_timeout <= 60:
            raise ConfigError(f"Config 'VOICE_GATHER_TIMEOUT' is {self.gather_timeout}; allowed: 1..60 seconds.")
        if not re.match(r"^https?://", self.public_base_url):
            raise ConfigError(f"Config 'PUBLIC_BASE_URL' is {self.public_base_url!r}; it must be the http(s) URL Twilio calls.")
        if not 0 < self.turn_deadline <= MAX_TURN_DEADLINE_SECONDS:
            raise ConfigError(
                f"Config 'VOICE_TURN_DEADLINE_SECONDS' is {self.turn_deadline}; allowed: more than 0 and at most "
                f"{MAX_TURN_DEADLINE_SECONDS:g} seconds (Twilio gives up on a webhook after 15)."
            )

    def action_url(self, step: int, **extra: Any) -> str:
        query = "&".join([f"step={step}"] + [f"{k}={v}" for k, v in extra.items()])
        return f"{self.public_base_url}{self.webhook_path}?{query}"

    @property
    def pending_path(self) -> str:
        return self.webhook_path.rsplit("/", 1)[0] + "/pending"

    def pending_url(self, step: int, wait: int) -> str:
        """Where a "one moment" answer sends the caller back for the answer of `step`."""
        return f"{self.public_base_url}{self.pending_path}?step={step}&wait={wait}"

    def voice(self, language: str) -> str:
        return self.voice_ar if language == "ar" else self.voice_en

    def speech_locale(self, language: str) -> str:
        return self.locale_ar if language == "ar" else self.locale_en


def load_entity_hints(path: Path) -> dict[str, tuple[str, ...]]:
    """Entity names per language from the case store's catalogue (any YAML layout carrying
    `name_ar` / `name_en` keys); empty when the file does not exist yet."""
    if not path.exists():
        return {"ar": (), "en": ()}
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    names: dict[str, list[str]] = {"ar": [], "en": []}
    aliases: dict[str, list[str]] = {"ar": [], "en": []}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for lang in ("ar", "en"):
                value = node.get(f"name_{lang}")
                if isinstance(value, str) and value.strip():
                    names[lang].append(value.strip())
                more = node.get(f"aliases_{lang}")
                if isinstance(more, list):
                    aliases[lang] += [str(a).strip() for a in more if str(a).strip()]
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(data)
    # Official names first, then what people say: the list is cut at Twilio's 500 hints.
    return {lang: tuple(dict.fromkeys(names[lang] + aliases[lang])) for lang in ("ar", "en")}
