"""Set up the Facebook page: Get Started button, greeting and persistent menu (both languages).

    python -m channels.messenger_profile            # POST to the Messenger Profile API
    python -m channels.messenger_profile --dry-run  # print the payload, send nothing

Uses MESSENGER_PAGE_ACCESS_TOKEN, MESSENGER_APP_SECRET (for appsecret_proof),
MESSENGER_GRAPH_URL and MESSENGER_GRAPH_VERSION, like the connector.

Documented limits checked here before anything is sent: greeting text ≤ 160 characters, a
`default` locale present for the greeting and the menu, ≤ 20 persistent-menu items per locale
(nested menus are gone from the API), item titles ≤ 30 characters, payloads ≤ 1,000.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import requests

from bot import settings
from bot.i18n import N_, language_name
from bot.settings import ConfigError
from channels.common import is_valid_payload, t
from channels.messenger import (
    DEFAULT_GRAPH_URL,
    DEFAULT_GRAPH_VERSION,
    GraphClient,
    MessengerSendError,
)

GET_STARTED_PAYLOAD = "/greet"
MAX_GREETING = 160
MAX_MENU_ITEMS = 20
MAX_MENU_TITLE = 30
MAX_PAYLOAD = 1000

# The five request types (a report also as a human-rights grievance), status, then the switch to
# the other language.
MENU = (
    (N_("Ask the Government"), "/ask_government"),
    (N_("Make a suggestion"), "/suggest"),
    (N_("Send a compliment"), "/compliment"),
    (N_("File a complaint"), "/complain"),
    (N_("Report a violation"), "/report_violation"),
    (N_("Human-rights grievance"), "/report_human_rights"),
    (N_("Check a request"), "/check_status"),
)
# Meta's locale for each of our languages; Arabic is the page's default.
LOCALES = (("default", "ar"), ("en_US", "en"))


class ProfileError(ValueError):
    pass


def _menu(language: str) -> dict[str, Any]:
    other = "en" if language == "ar" else "ar"
    items = [(t(language, title), payload) for title, payload in MENU]
    # The other language named in itself, so a reader of either can find it.
    items.append((language_name(other), "/switch_language" + json.dumps({"language": other})))
    return [{"type": "postback", "title": title, "payload": payload} for title, payload in items]  # type: ignore[return-value]


def profile_payload() -> dict[str, Any]:
    """The documented body of POST /me/messenger_profile."""
    payload = {
        "get_started": {"payload": GET_STARTED_PAYLOAD},
        "greeting": [{"locale": loc, "text": t(lang, "Welcome to Bekhedmetkom, Jordan's government complaints and suggestions platform. Ask the government, file a request, or follow one up.")} for loc, lang in LOCALES],
        "persistent_menu": [
            {"locale": loc, "composer_input_disabled": False, "call_to_actions": _menu(lang)} for loc, lang in LOCALES
        ],
    }
    check(payload)
    return payload


def check(payload: dict[str, Any]) -> None:
    """Refuse a profile Meta would refuse (or would cut), naming what is wrong."""
    for greeting in payload["greeting"]:
        if len(greeting["text"]) > MAX_GREETING:
            raise ProfileError(f"greeting for {greeting['locale']} is {len(greeting['text'])} characters; at most {MAX_GREETING}")
    for section in ("greeting", "persistent_menu"):
        if not any(x["locale"] == "default" for x in payload[section]):
            raise ProfileError(f"{section} needs a 'default' locale")
    for menu in payload["persistent_menu"]:
        items = menu["call_to_actions"]
        if len(items) > MAX_MENU_ITEMS:
            raise ProfileError(f"menu for {menu['locale']} has {len(items)} items; at most {MAX_MENU_ITEMS}")
        for item in items:
            if len(item["title"]) > MAX_MENU_TITLE:
                raise ProfileError(f"menu title {item['title']!r} is longer than {MAX_MENU_TITLE} characters")
            if len(item["payload"]) > MAX_PAYLOAD or not is_valid_payload(item["payload"]):
                raise ProfileError(f"menu payload {item['payload']!r} is not one of our button payloads")
    if not is_valid_payload(payload["get_started"]["payload"]):
        raise ProfileError("the Get Started payload must be a button payload")


def make_bot() -> GraphClient:
    return GraphClient(
        settings.secret("MESSENGER_PAGE_ACCESS_TOKEN"),
        settings.secret("MESSENGER_APP_SECRET"),
        settings.env("MESSENGER_GRAPH_URL", DEFAULT_GRAPH_URL) or DEFAULT_GRAPH_URL,
        settings.env("MESSENGER_GRAPH_VERSION", DEFAULT_GRAPH_VERSION) or DEFAULT_GRAPH_VERSION,
    )


def apply(bot: GraphClient | None = None) -> dict[str, Any]:
    """Send the profile; returns Meta's answer ({"result": "success"})."""
    return (bot or make_bot()).post("me/messenger_profile", profile_payload())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.messenger_profile", description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the payload and send nothing")
    args = parser.parse_args(argv)
    if args.dry_run:
        print(json.dumps(profile_payload(), ensure_ascii=False, indent=2))
        return 0
    try:
        result = apply()
    except (MessengerSendError, ProfileError, ConfigError) as exc:
        print(f"messenger_profile: failed: {exc}", file=sys.stderr)
        return 1
    except requests.RequestException as exc:  # its text holds the URL, and so the access token
        print(f"messenger_profile: failed to reach the Graph API: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(f"messenger_profile: {json.dumps(result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
