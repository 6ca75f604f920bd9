"""HTTP plumbing shared by the console's routes: JSON answers that are never cached, and the client
address the login throttle and the audit trail see."""

from __future__ import annotations

from typing import Any

from sanic import response
from sanic.request import Request
from sanic.response import HTTPResponse

SESSION_COOKIE = "bekh_console"
CSRF_HEADER = "X-CSRF-Token"
# Only contact-center agents sign in to the console; dashboard accounts sign in to insights/.
CONSOLE_ROLES = ("agent",)


def error(status: int, code: str, **extra: Any) -> HTTPResponse:
    return response.json({"error": code, **extra}, status=status, headers={"Cache-Control": "no-store"})


def ok(data: Any, status: int = 200) -> HTTPResponse:
    return response.json(data, status=status, headers={"Cache-Control": "no-store"})


def client_ip(request: Request, trusted_proxies: int) -> str:
    """The address login throttling and the audit trail see.

    With no trusted proxy the socket peer, whatever X-Forwarded-For claims (anyone can send it).
    Behind N proxies, the N-th address from the right of X-Forwarded-For: the one the outermost
    of our own proxies saw. Sanic's parser does the counting (its PROXIES_COUNT), with our count.
    """
    if trusted_proxies > 0:
        from types import SimpleNamespace

        from sanic.headers import parse_xforwarded

        cfg = SimpleNamespace(REAL_IP_HEADER=None, PROXIES_COUNT=trusted_proxies, FORWARDED_FOR_HEADER="X-Forwarded-For")
        forwarded = parse_xforwarded(request.headers, cfg) or {}
        if forwarded.get("for"):
            return str(forwarded["for"])[:64]
    return (request.ip or "unknown")[:64]

