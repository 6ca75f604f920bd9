"""`CaseStoreClient`: one class, one shared ClientSession, one error path (`_request`).

Retries: a create is retried on unavailability with the SAME idempotency key (the store answers
a replay with the original request, so a retry can never file twice); GETs retry once; other
POSTs never retry, because their effect may have happened before the connection dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import aiohttp

from backend_client.errors import (
    CaseStoreError,
    CaseStoreUnavailable,
    Conflict,
    IdempotencyKeyReused,
    InvalidReference,
    NotFoundOrUnverified,
    RateLimited,
    ValidationError,
)
from backend_client.types import Campaign, CaseRequest, Centre, Created, Entity, Routing, Sector

log = logging.getLogger(__name__)

CREATE_ATTEMPTS = 3
BACKOFF_SECONDS = (0.2, 0.6)
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class CaseStoreClient:
    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"CASE_STORE_URL must start with http:// or https://, got {base_url!r}")
        if not token:
            raise ValueError("CASE_STORE_TOKEN is empty; the case store refuses unauthenticated calls")
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls, timeout: float = 5.0) -> CaseStoreClient:
        from bot.settings import get_settings

        s = get_settings()
        return cls(s.case_store_url, s.case_store_token, timeout)

    # --- lifecycle ---------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        # Made lazily: aiohttp wants sessions created inside a running event loop.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._token}", "Accept": "application/json"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> CaseStoreClient:
        self._get_session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    # --- the one error path ------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        attempts: int = 1,
    ) -> tuple[int, Any]:
        for attempt in range(1, attempts + 1):
            try:
                return await self._request_once(method, path, json=json, params=params, headers=headers)
            except CaseStoreUnavailable:
                if attempt == attempts:
                    raise
                log.warning("case store unavailable (%s %s), retry %d", method, path.split("/")[2], attempt)
                await asyncio.sleep(BACKOFF_SECONDS[min(attempt - 1, len(BACKOFF_SECONDS) - 1)])
        raise AssertionError("unreachable")

    async def _request_once(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[int, Any]:
        try:
            async with self._get_session().request(
                method, self.base_url + path, json=json, params=params, headers=headers
            ) as resp:
                status = resp.status
                try:
                    body = await resp.json(content_type=None)
                except ValueError:
                    body = None
        # asyncio.TimeoutError is not the builtin TimeoutError before Python 3.11.
        except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
            # Never include the URL or payload: the path may carry a reference number.
            raise CaseStoreUnavailable(f"case store unreachable ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return status, body
        code = body.get("error") if isinstance(body, dict) else None
        if status == 422 and code == "idempotency_key_reused":
            raise IdempotencyKeyReused()
        if status == 422:
            raise InvalidReference(code or "invalid_reference")
        if status == 404:
            raise NotFoundOrUnverified(code or "not_found_or_unverified")
        if status == 429:
            retry_after = body.get("retry_after", 60) if isinstance(body, dict) else 60
            raise RateLimited(int(retry_after))
        if status == 409:
            raise Conflict(code or "conflict")
        if status == 400:
            raise ValidationError(code or "invalid", body.get("field") if isinstance(body, dict) else None)
        if status in UNAVAILABLE_STATUSES:
            raise CaseStoreUnavailable(f"case store answered {status}")
        raise CaseStoreError(f"case store answered {status}", status, code)

    @staticmethod
    def _proof(requester_id: str | None, phone_tail: str | None, pin: str | None, actor: str | None) -> dict[str, str]:
        headers = {
            "X-Requester-Id": requester_id,
            "X-Verify-Phone-Tail": phone_tail,
            "X-Verify-Pin": pin,
            "X-Actor": actor,
        }
        return {k: v for k, v in headers.items() if v}

    @staticmethod
    def _path(reference: str, suffix: str = "") -> str:
        from urllib.parse import quote

        return f"/v1/requests/{quote(reference, safe='')}{suffix}"

    # --- requests ----------------------------------------------------------------------------

    async def create_request(
        self,
        *,
        type: str,
        sector: str,
        entity: str,
        description: str,
        language: str,
        channel: str,
        requester_id: str,
        idempotency_key: str,
        pillar: str | None = None,
        importance: str | None = None,
        entered_by: str | None = None,
        contact_phone: str | None = None,
        anonymous: bool | None = None,
        attachments: Sequence[Mapping[str, str]] | None = None,
        notify: Mapping[str, str] | None = None,
        campaign: str | None = None,
        campaign_answers: Mapping[str, str] | None = None,
    ) -> Created:
        body: dict[str, Any] = {
            "type": type,
            "sector": sector,
            "entity": entity,
            "description": description,
            "language": language,
            "channel": channel,
            "requester_id": requester_id,
        }
        optional = {
            "pillar": pillar,
            "importance": importance,
            "entered_by": entered_by,
            "contact_phone": contact_phone,
            "anonymous": anonymous,
            "attachments": [dict(a) for a in attachments] if attachments else None,
            "notify": dict(notify) if notify else None,
            "campaign": campaign,
            "campaign_answers": dict(campaign_answers) if campaign and campaign_answers else None,
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        status, data = await self._request(
            "POST",
            "/v1/requests",
            json=body,
            headers={"Idempotency-Key": idempotency_key},
            attempts=CREATE_ATTEMPTS,
        )
        return Created(CaseRequest.from_json(data), created=status == 201, pin=data.get("pin"))

    async def get_request(
        self,
        reference: str,
        requester_id: str | None = None,
        phone_tail: str | None = None,
        pin: str | None = None,
        actor: str | None = None,
    ) -> CaseRequest:
        _, data = await self._request(
            "GET", self._path(reference), headers=self._proof(requester_id, phone_tail, pin, actor), attempts=2
        )
        return CaseRequest.from_json(data)

    async def rate(
        self,
        reference: str,
        score: int,
        resolved: bool,
        comment: str | None = None,
        *,
        requester_id: str | None = None,
        phone_tail: str | None = None,
        pin: str | None = None,
        actor: str | None = None,
    ) -> CaseRequest:
        body: dict[str, Any] = {"score": score, "resolved": resolved}
        if comment:
            body["comment"] = comment
        _, data = await self._request(
            "POST",
            self._path(reference, "/rating"),
            json=body,
            headers=self._proof(requester_id, phone_tail, pin, actor),
        )
        return CaseRequest.from_json(data)

    async def reopen(
        self,
        reference: str,
        reason: str | None = None,
        *,
        requester_id: str | None = None,
        phone_tail: str | None = None,
        pin: str | None = None,
        actor: str | None = None,
    ) -> CaseRequest:
        _, data = await self._request(
            "POST",
            self._path(reference, "/reopen"),
            json={"reason": reason} if reason else {},
            headers=self._proof(requester_id, phone_tail, pin, actor),
        )
        return CaseRequest.from_json(data)

    async def set_status(
        self, reference: str, status: str, actor: str, note: str | None = None, answer: str | None = None
    ) -> CaseRequest:
        body: dict[str, Any] = {"status": status, "actor": actor}
        if note:
            body["note"] = note
        if answer:
            body["answer"] = answer
        _, data = await self._request("POST", self._path(reference, "/status"), json=body)
        return CaseRequest.from_json(data)

    # --- health ------------------------------------------------------------------------------

    async def healthz(self) -> None:
        """The case store answers and reaches its database (its /healthz runs a query); one try,
        so a readiness probe reports now rather than after the retries. Raises CaseStoreError."""
        await self._request("GET", "/healthz")

    # --- catalogue ---------------------------------------------------------------------------

    async def sectors(self) -> list[Sector]:
        _, data = await self._request("GET", "/v1/catalogue/sectors", attempts=2)
        return [Sector.from_json(s) for s in data["sectors"]]

    async def entities(self, sector: str | None = None, q: str | None = None, limit: int | None = None) -> list[Entity]:
        params = {k: str(v) for k, v in {"sector": sector, "q": q, "limit": limit}.items() if v}
        _, data = await self._request("GET", "/v1/catalogue/entities", params=params, attempts=2)
        return [Entity.from_json(e) for e in data["entities"]]

    async def route(self, text: str, among: Sequence[str] = ()) -> Routing:
        """Which body `text` addresses (read-only, so retried like the other catalogue calls)."""
        body: dict[str, Any] = {"text": text[:2000]}
        if among:
            body["among"] = list(among)[:50]
        _, data = await self._request("POST", "/v1/catalogue/route", json=body, attempts=2)
        return Routing.from_json(data)

    # --- service centres and campaigns (issue 13) ----------------------------------------------

    @staticmethod
    def _centre_path(code: str, suffix: str = "") -> str:
        from urllib.parse import quote

        return f"/v1/centres/{quote(code, safe='')}{suffix}"

    async def centre(self, code: str, requester_id: str | None = None) -> Centre:
        """The centre with this code and whether `requester_id` rated it today.
        Raises NotFoundOrUnverified("unknown_centre") for a code no centre has."""
        headers = {"X-Requester-Id": requester_id} if requester_id else None
        _, data = await self._request("GET", self._centre_path(code), headers=headers, attempts=2)
        return Centre.from_json(data)

    async def rate_centre(
        self,
        code: str,
        *,
        score: int,
        pillars: Sequence[str],
        language: str,
        channel: str,
        rater_id: str,
        idempotency_key: str,
        comment: str | None = None,
        entered_by: str | None = None,
    ) -> bool:
        """Record a rated visit; True when created, False for a replay of the same key.
        Raises Conflict("centre_closed" | "already_rated_today"), NotFoundOrUnverified("unknown_centre")."""
        body: dict[str, Any] = {"score": score, "pillars": list(pillars), "language": language, "channel": channel,
                                "rater_id": rater_id}
        if comment:
            body["comment"] = comment
        if entered_by:
            body["entered_by"] = entered_by
        status, _ = await self._request(
            "POST", self._centre_path(code, "/ratings"), json=body, headers={"Idempotency-Key": idempotency_key},
            attempts=CREATE_ATTEMPTS,
        )
        return status == 201

    async def campaigns(self) -> list[Campaign]:
        _, data = await self._request("GET", "/v1/campaigns", attempts=2)
        return [Campaign.from_json(c) for c in data["campaigns"]]

    # --- outbox (the notifier) ---------------------------------------------------------------

    async def outbox(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        """Unacknowledged events after `after`, oldest first (the contract's plain event objects)."""
        _, data = await self._request("GET", "/v1/outbox", params={"after": str(after), "limit": str(limit)}, attempts=2)
        return list(data.get("events") or []) if isinstance(data, dict) else []

    async def ack_outbox(self, event_id: int) -> None:
        """Acknowledge one event; an event the store no longer has counts as acknowledged."""
        with contextlib.suppress(NotFoundOrUnverified):
            await self._request("POST", f"/v1/outbox/{int(event_id)}/ack")
