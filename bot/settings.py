"""Settings from the environment, checked once when read; see README "Configuration".

A missing secret in production raises with the variable's name. In development (BEKH_ENV=dev,
the default for `make run`) secrets fall back to values derived from a per-checkout file under
var/, never to a fixed string in the code.
"""

from __future__ import annotations

import functools
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEZONE = "Asia/Amman"
VAR = Path(os.environ.get("BEKH_VAR_DIR", ROOT / "var"))


class ConfigError(RuntimeError):
    pass


def _dev_secret(name: str) -> str:
    """A random secret kept in var/secrets/<name>, made on first use (dev and tests only)."""
    path = VAR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(secrets.token_urlsafe(32))
        os.replace(tmp, path)
    return path.read_text().strip()


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def secret(name: str) -> str:
    value = env(name)
    if value:
        return value
    if env("BEKH_ENV", "dev") == "production":
        raise ConfigError(f"Config '{name}' is missing, and has no default in production (BEKH_ENV=production).")
    return _dev_secret(name.lower())


def timezone_name() -> str:
    """BEKH_TIMEZONE (default Asia/Amman), checked: the one place the local time zone is read."""
    name = env("BEKH_TIMEZONE", DEFAULT_TIMEZONE) or DEFAULT_TIMEZONE
    _zone(name)
    return name


def local_timezone() -> ZoneInfo:
    """The time zone of due dates, opening hours and every date shown to a person.

    Read at each call (not cached with the other settings) so that it follows the environment.
    """
    return _zone(timezone_name())


@functools.lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"Config 'BEKH_TIMEZONE' is {name!r}, which is not an IANA time zone (e.g. Asia/Amman).") from None


@dataclass(frozen=True)
class Settings:
    env: str
    case_store_url: str
    case_store_token: str
    case_store_database_url: str
    case_store_host: str
    case_store_port: int
    case_store_encryption_key: bytes
    sender_id_key: bytes
    public_base_url: str
    timezone: str
    tracker_cache_size: int = 500

    @property
    def production(self) -> bool:
        return self.env == "production"


def _int(name: str, default: int) -> int:
    raw = env(name, str(default))
    try:
        return int(raw)  # type: ignore[arg-type]
    except ValueError:
        raise ConfigError(f"Config '{name}' must be an integer, got {raw!r}.") from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    mode = env("BEKH_ENV", "dev") or "dev"
    if mode not in ("dev", "test", "production"):
        raise ConfigError(f"Config 'BEKH_ENV' is {mode!r}; allowed: dev, test, production.")
    host = env("CASE_STORE_HOST", "127.0.0.1") or "127.0.0.1"
    port = _int("CASE_STORE_PORT", 8800)
    VAR.mkdir(parents=True, exist_ok=True)
    return Settings(
        env=mode,
        case_store_url=(env("CASE_STORE_URL", f"http://127.0.0.1:{port}") or "").rstrip("/"),
        case_store_token=secret("CASE_STORE_TOKEN"),
        case_store_database_url=env("CASE_STORE_DATABASE_URL", f"sqlite:///{VAR / 'case_store.db'}") or "",
        case_store_host=host,
        case_store_port=port,
        case_store_encryption_key=secret("CASE_STORE_ENCRYPTION_KEY").encode(),
        sender_id_key=secret("SENDER_ID_KEY").encode(),
        public_base_url=(env("PUBLIC_BASE_URL", "http://127.0.0.1:5005") or "").rstrip("/"),
        timezone=timezone_name(),
        tracker_cache_size=max(0, _int("TRACKER_CACHE_SIZE", 500)),
    )
