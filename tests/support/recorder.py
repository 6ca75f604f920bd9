"""A local stand-in for the clouds we cannot reach: Meta's Graph API and Twilio's REST API.

It records every request (method, path, query, headers, JSON or form body) and answers with the
documented success shapes, so tests can check exactly what our code sent. Runs an aiohttp app
in a background thread on a free loopback port.

`fail(path_contains, status, times)` makes the next `times` matching requests fail (recorded
all the same) with the vendor's error shape, to test retries; by default nothing fails.
`go_down()` closes the listening socket (callers see "connection refused", as when the cloud
is unreachable) and `come_up()` listens again on the same port.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._failures: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="recorder", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Recorder:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("recorder did not start")
        return self

    def stop(self) -> None:
        if self._loop and self._runner:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)

    def go_down(self) -> None:
        """Stop listening: every call is refused until `come_up()` (nothing is recorded)."""
        assert self._loop and self._site and self._runner
        async def down() -> None:
            await self._site.stop()  # type: ignore[union-attr]
            # Stopping the site only stops listening: kept-alive connections (requests' pool)
            # would still be served. Close them too, as a real outage would.
            server = self._runner.server  # type: ignore[union-attr]
            if server is not None:
                await server.shutdown(0.1)
        asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)

    def come_up(self) -> None:
        assert self._loop and self._runner
        async def listen() -> None:
            self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)  # type: ignore[arg-type]
            await self._site.start()
        asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)

    def fail(self, path_contains: str, status: int = 503, times: int = 1, body: Any = None) -> None:
        """The next `times` requests whose path contains `path_contains` get `status` (and
        `body`, by default Twilio's or Graph's error JSON for that path)."""
        with self._lock:
            self._failures.append({"path": path_contains, "status": status, "left": times, "body": body})

    def clear_failures(self) -> None:
        """The cloud is healthy again: drop failures not yet used up."""
        with self._lock:
            self._failures.clear()

    def _failure_for(self, path: str) -> web.Response | None:
        with self._lock:
            for f in self._failures:
                if f["left"] > 0 and f["path"] in path:
                    f["left"] -= 1
                    break
            else:
                return None
        body = f["body"]
        if body is None and "/Messages.json" in path:
            body = {"code": 20500 if f["status"] >= 500 else 21610, "message": "recorder failure", "status": f["status"],
                    "more_info": "https://www.twilio.com/docs/errors"}
        elif body is None:
            body = {"error": {"message": "recorder failure", "type": "OAuthException",
                              "code": 2 if f["status"] >= 500 else 100, "fbtrace_id": "recorder"}}
        return web.json_response(body, status=f["status"])

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.requests)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0, count: int = 1) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [r for r in self.snapshot() if predicate(r)]
            if len(hits) >= count:
                return hits
            time.sleep(0.05)
        raise TimeoutError(f"recorder saw {len([r for r in self.snapshot() if predicate(r)])} matching requests, wanted {count}")

    # --- server ---------------------------------------------------------------------------------
    def _serve(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self._site = site
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body_json: Any = None
        form: dict[str, str] = {}
        ctype = request.headers.get("Content-Type", "")
        if "json" in ctype and raw:
            try:
                body_json = json.loads(raw)
            except ValueError:
                body_json = None
        elif "form" in ctype:
            form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        entry = {
            "method": request.method,
            "path": request.path,
            "query": dict(request.query),
            "headers": dict(request.headers),
            "json": body_json,
            "form": form,
            "raw": raw,
            "at": time.time(),
        }
        with self._lock:
            self.requests.append(entry)
        failure = self._failure_for(request.path)
        if failure is not None:
            return failure
        if "/Messages.json" in request.path:  # Twilio: Create a Message
            sid = "SM" + uuid.uuid4().hex
            return web.json_response(
                {"sid": sid, "status": "queued", "to": form.get("To"), "from": form.get("From"), "body": form.get("Body"),
                 "account_sid": request.path.split("/")[3] if request.path.count("/") > 3 else "", "num_segments": "1",
                 "date_created": "Mon, 23 Nov 2026 10:00:00 +0000", "uri": request.path.replace(".json", f"/{sid}.json")},
                status=201,
            )
        if request.path.endswith("/messenger_profile"):
            return web.json_response({"result": "success"})
        if request.path.endswith("/messages"):  # Graph Send API
            recipient = (body_json or {}).get("recipient", {}).get("id", "")
            return web.json_response({"recipient_id": recipient, "message_id": "m_" + uuid.uuid4().hex})
        return web.json_response({"ok": True})
