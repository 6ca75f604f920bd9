"""`python -m insights serve [--host H] [--port P]`: the dashboards (INSIGHTS_HOST/INSIGHTS_PORT,
default 127.0.0.1:8900) and the event-broker reader that feeds the conversation figures."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from bot.privacy import install_log_redaction
from insights.web import load_config, make_app, with_overrides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m insights")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="serve the dashboards and read the event broker")
    s.add_argument("--host", default=None, help="default: $INSIGHTS_HOST or 127.0.0.1")
    s.add_argument("--port", type=int, default=None, help="default: $INSIGHTS_PORT or 8900")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_redaction()
    config = load_config()
    config = with_overrides(config, host=args.host or config.host, port=args.port or config.port)
    web.run_app(make_app(config), host=config.host, port=config.port, access_log=None, print=None,
                shutdown_timeout=10)  # requests here are short; `make run` stops within seconds
    return 0


if __name__ == "__main__":
    sys.exit(main())
