"""AgentConsoleInput, the console's InputChannel: credentials, route wiring, sessions and CSRF, and
the handoff expiry timer. The routes themselves live in page.py, api.py and handoffs.py."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

from backend_client import CaseStoreClient
from channels.accounts import csrf_ok
from channels.agent_console import api, conversations, expiry, handoffs, page
from channels.agent_console.config import ConsoleConfig, load_config
from channels.agent_console.forms import FormTokens
from channels.agent_console.sending import ConsoleSender, SendError, send_to_citizen
from channels.agent_console.web import CONSOLE_ROLES, CSRF_HEADER, SESSION_COOKIE, client_ip, error
from channels.agents import AgentStore, Session, utcnow

logger = logging.getLogger(__name__)
Json = dict[str, Any]


class AgentConsoleInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "agent_console"

    @classmethod
    def from_credentials(cls, credentials: Json | None) -> InputChannel:
        return cls(load_config(credentials))

    def __init__(
        self, config: ConsoleConfig, store: AgentStore | None = None, clock: Callable[[], dt.datetime] = utcnow
    ) -> None:
        self.config = config
        self.clock = clock
        self.store = store or AgentStore(config.database_url, clock=clock)
        self.sender = ConsoleSender(config)
        # One client of the case store per console; its session is opened on first use (inside
        # the server's loop) and closed when the server stops.
        self.cases = CaseStoreClient(config.case_store_url, config.case_store_token, timeout=10)
        self.forms = FormTokens(config.internal_token, clock)
        self._sweeper: asyncio.Task[None] | None = None

    def client_ip(self, request: Request) -> str:
        return client_ip(request, self.config.trusted_proxies)

    # auth -----------------------------------------------------------------------------------------
    async def signed_in(self, request: Request, *, changes_state: bool) -> Session | HTTPResponse:
        """The agent's live session, or the 401/403 to answer; `changes_state` also checks the CSRF token."""
        session = await self.store.run(self.store.session, request.cookies.get(SESSION_COOKIE), CONSOLE_ROLES)
        if session is None:
            return error(401, "not_signed_in")
        if changes_state and not csrf_ok(request.headers.get(CSRF_HEADER), session.csrf_token):
            return error(403, "csrf_token_missing_or_wrong")
        return session

    def as_agent(
        self, *, changes_state: bool
    ) -> Callable[[Callable[..., Awaitable[HTTPResponse]]], Callable[..., Awaitable[HTTPResponse]]]:
        """Route decorator: the handler runs only for a signed-in agent and gets the session after the
        request; `changes_state` routes also need the session's CSRF token."""

        def wrap(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
            @functools.wraps(handler)
            async def route(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                s = await self.signed_in(request, changes_state=changes_state)
                if isinstance(s, HTTPResponse):
                    return s
                return await handler(request, s, *args, **kwargs)

            return route

        return wrap

    def set_cookie(self, resp: HTTPResponse, token: str) -> None:
        resp.cookies[SESSION_COOKIE] = token
        c = resp.cookies[SESSION_COOKIE]
        c["httponly"] = True
        c["samesite"] = "Strict"
        c["secure"] = self.config.secure_cookies
        c["path"] = page.COOKIE_PATH

    # the person behind a handoff ------------------------------------------------------------------
    async def send_to_citizen(self, agent: Any, handoff: Json, text: str, *, by_agent: bool = True) -> None:
        found = await conversations.tracker(agent, handoff["sender_id"])
        await send_to_citizen(self.sender, found, handoff, text, self.clock(), by_agent=by_agent)

    async def hand_back(self, agent: Any, handoff: Json, text: str, *, by_agent: bool = True) -> bool:
        """Give the conversation back to the assistant and tell the person `text`; True if it was delivered.
        Used by an agent's hand-back and by expiry."""
        from rasa.shared.core.events import BotUttered, ConversationResumed

        delivered = True
        try:
            await self.send_to_citizen(agent, handoff, text, by_agent=by_agent)
        except SendError as e:
            logger.warning("hand-back notice not delivered on %s: %s", handoff["channel"], e)
            delivered = False
        await conversations.append(agent, handoff["sender_id"], [ConversationResumed(), BotUttered(text)])
        return delivered

    async def expire_waiting(self, agent: Any) -> list[str]:
        """One expiry sweep now (the timer calls this every `sweep_seconds`)."""
        return await expiry.expire_due(self, agent)

    # routes -----------------------------------------------------------------------------------------
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("agent_console", __name__)

        @bp.listener("after_server_start")
        async def _start_sweeper(app: Any, _loop: Any) -> None:
            if self.config.sweep_seconds > 0:
                self._sweeper = asyncio.create_task(expiry.sweep_forever(self, app, self.config.sweep_seconds))

        @bp.listener("before_server_stop")
        async def _stop_sweeper(_app: Any, _loop: Any) -> None:
            if self._sweeper is not None:
                self._sweeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sweeper
                self._sweeper = None

        @bp.listener("after_server_stop")
        async def _close(_app: Any, _loop: Any) -> None:
            await self.sender.close()
            await self.cases.close()

        page.register(bp)
        api.register(bp, self)
        handoffs.register(bp, self)
        return bp
