"""The page: its HTML template filled in the agent's language, its static files, and the console's
gettext domain (`t`) that every other module of the console speaks through."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from babel.messages.pofile import read_po
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.i18n import LOCALE_DIR, gettext, lang_or_default
from channels.common import PAGE_SECURITY_HEADERS

DOMAIN = "console"
STATIC_DIR = Path(__file__).resolve().parent.parent / "agent_console_static"
LANG_COOKIE = "bekh_console_lang"
COOKIE_PATH = "/webhooks/agent_console"


def t(language: str, message: str, **params: object) -> str:
    return gettext(DOMAIN, lang_or_default(language), message, **params)


def _catalog_messages() -> list[str]:
    with (LOCALE_DIR / "en" / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as f:
        return [str(m.id) for m in read_po(f) if m.id and isinstance(m.id, str)]


_MSGIDS: list[str] | None = None


def ui_strings(language: str) -> dict[str, str]:
    global _MSGIDS
    if _MSGIDS is None:
        _MSGIDS = _catalog_messages()
    return {m: t(language, m) for m in _MSGIDS}


_PLACEHOLDER = re.compile(r"\{\{\s*(t:)?([^{}]+?)\s*\}\}")


def render_page(language: str, template: str) -> str:
    """Fill the page template: {{t:English text}} -> translated and escaped, {{lang}}, {{dir}}, {{i18n}}."""
    language = lang_or_default(language)

    def sub(m: re.Match[str]) -> str:
        if m.group(1):
            return html.escape(t(language, m.group(2)))
        name = m.group(2)
        if name == "lang":
            return language
        if name == "dir":
            return "rtl" if language == "ar" else "ltr"
        if name == "i18n":
            return json.dumps(ui_strings(language), ensure_ascii=False).replace("</", "<\\/")
        if name == "other_lang":
            return "en" if language == "ar" else "ar"
        raise KeyError(f"unknown placeholder {name!r} in the console page template")

    return _PLACEHOLDER.sub(sub, template)


SECURITY_HEADERS = PAGE_SECURITY_HEADERS


def register(bp: Blueprint) -> None:
    """GET / (the page, ?lang=ar|en, remembered in a cookie) and GET /static/<file>."""
    template = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    bp.static("/static", str(STATIC_DIR), name="console_static")

    @bp.route("/", methods=["GET"])
    async def page(request: Request) -> HTTPResponse:
        lang = request.args.get("lang") or request.cookies.get(LANG_COOKIE) or "ar"
        lang = lang_or_default(lang)
        resp = response.html(render_page(lang, template), headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})
        resp.cookies[LANG_COOKIE] = lang
        resp.cookies[LANG_COOKIE]["samesite"] = "Strict"
        resp.cookies[LANG_COOKIE]["path"] = COOKIE_PATH
        return resp
