"""Twilio's REST API, sent on twilio's own async HTTP client: `TwilioRest`, one per process.

twilio 8.2 ships `AsyncTwilioHttpClient` (aiohttp) and `messages.create_async`, so an SMS goes
out on the event loop instead of a worker thread blocked in `requests`. What that client does
not do, and this module adds:
- its constructor takes a `timeout`, but `request()` never applies it: it hands aiohttp
  `timeout=None`, which aiohttp reads as "no timeout at all". `_TimedHttpClient` fills it in;
- it opens its aiohttp session in the constructor, and a session belongs to the loop running
  then. Channels are built before Rasa's loop runs, so the client is made on first use, inside
  the loop that sends.
`TWILIO_API_BASE_URL`: twilio builds every URL, async ones too, from `client.api.base_url`
(twilio.base.domain.Domain.absolute_url), so setting it points Messages at a local recorder in
tests. Edge/region rewriting (TWILIO_EDGE/TWILIO_REGION, client_base.get_hostname) would undo
that, so it is switched off then.

One session per process: `shared()` hands every caller with the same account and base URL the
same `TwilioRest` (the SMS channel, the IVR's texted reference and the console all live in the
Rasa process); `close_all()` closes them when the server stops (the SMS channel's listener), and
the notifier closes its own on exit.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

logger = logging.getLogger(__name__)

SEND_TIMEOUT = 10.0  # seconds for one Twilio request, connect to last byte

# twilio's client logs every request and its headers at INFO: keep that out of our logs.
_quiet_http_logger = logging.getLogger(__name__ + ".http")
_quiet_http_logger.setLevel(logging.WARNING)

# What a send raises when Twilio cannot be reached (twilio's own TwilioRestException and
# TwilioException are raised as they are): callers treat these as "try again later".
NETWORK_ERRORS: tuple[type[BaseException], ...] = (aiohttp.ClientError, asyncio.TimeoutError)


class _TimedHttpClient(AsyncTwilioHttpClient):
    async def request(self, method: str, url: str, *args: Any, timeout: float | None = None, **kwargs: Any) -> Response:
        return await super().request(method, url, *args, timeout=timeout or self.timeout, **kwargs)


class TwilioRest:
    """The few Twilio REST calls the gateway makes, on an aiohttp session made on first use."""

    def __init__(self, account_sid: str, auth_token: str, api_base_url: str | None = None,
                 timeout: float = SEND_TIMEOUT) -> None:
        self.account_sid, self.auth_token = account_sid, auth_token
        self.api_base_url = api_base_url.rstrip("/") if api_base_url else None
        self.timeout = timeout
        self._client: Client | None = None
        self._http: _TimedHttpClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _rest(self) -> Client:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A session from another (finished) loop cannot be used or awaited closed here.
            self._http = _TimedHttpClient(timeout=self.timeout, logger=_quiet_http_logger)
            client = Client(self.account_sid, self.auth_token, http_client=self._http)
            if self.api_base_url:
                client.api.base_url = self.api_base_url
                client.edge = client.region = None
            self._client, self._loop = client, loop
        return self._client

    async def send_message(self, *, to: str, body: str, **origin: str) -> str:
        """Create one Message (`origin` is `from_=` or `messaging_service_sid=`); its SID.
        Raises TwilioRestException for Twilio's refusals, NETWORK_ERRORS when unreachable."""
        message = await self._rest().messages.create_async(to=to, body=body, **origin)
        return str(message.sid)

    async def close(self) -> None:
        http, self._http, self._client = self._http, None, None
        if http is not None and self._loop is asyncio.get_running_loop():
            await http.close()


_clients: dict[tuple[str, str, str | None], TwilioRest] = {}


def shared(account_sid: str, auth_token: str, api_base_url: str | None = None) -> TwilioRest:
    """The process's client for this account and base URL (made once, session on first use)."""
    key = (account_sid, auth_token, api_base_url.rstrip("/") if api_base_url else None)
    if key not in _clients:
        _clients[key] = TwilioRest(*key)
    return _clients[key]


async def close_all() -> None:
    """Close every shared client's session (a later send opens a new one)."""
    for client in list(_clients.values()):
        await client.close()
