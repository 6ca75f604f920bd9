"""The action server with a readiness check: `python -m actions.server --actions actions --port 5055`.

rasa-sdk's own server (`rasa run actions`) answers `/health` as soon as it listens, whether or
not the case store behind it is reachable, so an orchestrator would route turns to an action
server that can only answer "we could not file it". This module builds the same app with
rasa-sdk's `create_app` (same arguments, logging and plugins as `rasa run actions`) and adds:

- `GET /health`: liveness, rasa-sdk's, unchanged (the process answers);
- `GET /ready`: readiness, 200 only when the case store answers its `/healthz` (which itself runs
  a query on its database), else 503 with the failure's class name and nothing else.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Any

from rasa_sdk import utils
from rasa_sdk.constants import APPLICATION_ROOT_LOGGER_NAME
from rasa_sdk.endpoint import create_app, create_argument_parser, create_ssl_context
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from backend_client import CaseStoreClient
from backend_client.errors import CaseStoreError

logger = logging.getLogger(__name__)
READY_TIMEOUT = 2.0  # well under the probes' timeoutSeconds (3)


async def case_store_ready(client: CaseStoreClient) -> tuple[bool, str]:
    try:
        await client.healthz()
    except CaseStoreError as exc:
        return False, type(exc).__name__
    return True, "case store reachable"


def add_readiness(app: Sanic, client_factory: Any = None) -> Sanic:
    """Add `GET /ready` to rasa-sdk's app. `client_factory` builds the case-store client (tests)."""
    make = client_factory or (lambda: CaseStoreClient.from_settings(timeout=READY_TIMEOUT))

    @app.get("/ready")
    async def ready(_: Request) -> HTTPResponse:
        client = make()
        try:
            ok, detail = await case_store_ready(client)
        finally:
            await client.close()
        return response.json({"status": "ok" if ok else "unavailable", "detail": detail}, status=200 if ok else 503)

    return app


def build_app(actions: str = "actions", cors: Any = "*", auto_reload: bool = False, client_factory: Any = None) -> Sanic:
    app = create_app(actions, cors_origins=cors, auto_reload=auto_reload)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return add_readiness(app, client_factory)


def main(argv: list[str] | None = None) -> None:
    parser: argparse.ArgumentParser = create_argument_parser()
    args = parser.parse_args(argv)
    utils.configure_colored_logging(args.loglevel)
    utils.configure_file_logging(logging.getLogger(APPLICATION_ROOT_LOGGER_NAME), args.log_file, args.loglevel,
                                 args.logging_config_file)
    utils.update_sanic_log_level()
    app = build_app(args.actions, args.cors, args.auto_reload)
    ssl = create_ssl_context(args.ssl_certificate, args.ssl_keyfile, args.ssl_password)
    app.run(os.environ.get("SANIC_HOST", "0.0.0.0"), args.port, ssl=ssl, workers=utils.number_of_sanic_workers())


if __name__ == "__main__":
    main()
