"""The console's settings: credentials.yml keys first, then the environment (README "Configuration")."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from bot.settings import ConfigError, env, get_settings, secret

Json = dict[str, Any]


@dataclass(frozen=True)
class ConsoleConfig:
    internal_token: str
    database_url: str | None
    case_store_url: str
    case_store_token: str
    secure_cookies: bool
    messenger_page_access_token: str
    messenger_app_secret: str
    messenger_graph_url: str
    twilio_account_sid: str
    twilio_auth_token: str
    twilio_from: str
    twilio_messaging_service_sid: str
    twilio_api_base_url: str
    trusted_proxies: int = 0
    # How long a handoff may wait for an agent once agents are on duty (channels/agent_console/expiry.py).
    handoff_wait: dt.timedelta = dt.timedelta(minutes=30)
    # How often this process looks for handoffs past their wait; 0 turns the sweeper off.
    sweep_seconds: float = 60.0


def _proxy_count(creds: Json) -> int:
    raw = str(creds.get("trusted_proxies") or env("AGENT_CONSOLE_TRUSTED_PROXIES") or "0").strip()
    if not re.fullmatch(r"[0-9]{1,2}", raw):
        raise ConfigError(
            f"Config 'AGENT_CONSOLE_TRUSTED_PROXIES' is {raw!r}: give the number of reverse proxies in front "
            "of Rasa that append to X-Forwarded-For (0, the default, when clients connect directly)."
        )
    return int(raw)


def _wait_minutes(creds: Json) -> dt.timedelta:
    raw = str(creds.get("handoff_wait_minutes") or env("HANDOFF_WAIT_MINUTES") or "30").strip()
    if not re.fullmatch(r"[0-9]{1,4}", raw) or not 1 <= int(raw) <= 1440:
        raise ConfigError(
            f"Config 'HANDOFF_WAIT_MINUTES' is {raw!r}: give the whole minutes (1-1440) a handoff may wait "
            "for an agent during business hours before the person is told no agent could take it."
        )
    return dt.timedelta(minutes=int(raw))


def _sweep_seconds(creds: Json) -> float:
    given = creds.get("handoff_sweep_seconds")
    raw = str(given if given is not None else "60").strip()
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise ConfigError(f"credentials key 'handoff_sweep_seconds' is {raw!r}: give seconds between 0 (off) and 3600.")
    return value


def _setting(creds: Json, key: str, var: str, *, is_secret: bool, default: str | None = None) -> str:
    value = creds.get(key) or env(var)
    if value:
        return str(value)
    if is_secret:
        return secret(var)  # raises in production, naming the variable
    if default is not None:
        return default
    raise ConfigError(f"Config '{var}' is missing, and has no default (credentials key '{key}').")


def load_config(creds: Json | None) -> ConsoleConfig:
    c = creds or {}
    s = get_settings()
    twilio_from = c.get("twilio_from") or env("TWILIO_SMS_FROM") or ""
    service = c.get("twilio_messaging_service_sid") or env("TWILIO_MESSAGING_SERVICE_SID") or ""
    if not twilio_from and not service:
        if s.production:
            raise ConfigError("Config 'TWILIO_SMS_FROM' (or 'TWILIO_MESSAGING_SERVICE_SID') is missing: the console sends references by SMS.")
        twilio_from = "+15005550006"  # Twilio's magic test number; dev and tests only
    return ConsoleConfig(
        internal_token=_setting(c, "internal_token", "AGENT_CONSOLE_INTERNAL_TOKEN", is_secret=True),
        database_url=c.get("database_url") or env("AGENT_CONSOLE_DATABASE_URL"),
        case_store_url=str(c.get("case_store_url") or s.case_store_url).rstrip("/"),
        case_store_token=str(c.get("case_store_token") or s.case_store_token),
        secure_cookies=str(c.get("public_base_url") or s.public_base_url).startswith("https://"),
        messenger_page_access_token=_setting(c, "page_access_token", "MESSENGER_PAGE_ACCESS_TOKEN", is_secret=True),
        messenger_app_secret=_setting(c, "app_secret", "MESSENGER_APP_SECRET", is_secret=True),
        # Same two settings as channels/messenger.py: base URL and API version, joined here.
        messenger_graph_url=_setting(c, "graph_url", "MESSENGER_GRAPH_URL", is_secret=False, default="https://graph.facebook.com").rstrip("/")
        + "/" + _setting(c, "graph_version", "MESSENGER_GRAPH_VERSION", is_secret=False, default="v21.0").strip("/"),
        twilio_account_sid=_setting(c, "account_sid", "TWILIO_ACCOUNT_SID", is_secret=True),
        twilio_auth_token=_setting(c, "auth_token", "TWILIO_AUTH_TOKEN", is_secret=True),
        twilio_from=twilio_from,
        twilio_messaging_service_sid=service,
        twilio_api_base_url=_setting(
            c, "twilio_api_base_url", "TWILIO_API_BASE_URL", is_secret=False, default="https://api.twilio.com"
        ).rstrip("/"),
        trusted_proxies=_proxy_count(c),
        handoff_wait=_wait_minutes(c),
        sweep_seconds=_sweep_seconds(c),
    )

