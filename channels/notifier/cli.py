"""The command line: `python -m channels.notifier [--once] [--interval N] | dead | retry ID|--all`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

from backend_client import CaseStoreError
from channels.notifier.attempts import Attempts
from channels.notifier.loop import DEFAULT_INTERVAL, Notifier


async def _main(once: bool, interval: float) -> int:
    async with Notifier.from_env() as notifier:
        if once:
            sent = await notifier.run_once()
            print(f"sent {sent} notification(s)")
            return 0
        await notifier.run_forever(interval)
    return 0


def _dead_letter(command: str, event_id: int | None, all_parked: bool) -> int:
    attempts = Attempts()
    if command == "dead":
        rows = attempts.parked()
        for r in rows:
            parked = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r["parked_at"]))
            print(f"event {r['event_id']}\t{r['event']}\t{r['channel'] or '-'}\tattempts={r['attempts']}\t"
                  f"parked={parked}\tlast_error={r['last_error'] or '-'}")
        print(f"{len(rows)} parked event(s)")
        return 0
    if event_id is None and not all_parked:
        print("notifier: say which event to retry (an id from `dead`) or --all.")
        return 2
    n = attempts.unpark(None if all_parked else event_id)
    print(f"put back {n} event(s); the running notifier picks them up at the end of its next scan")
    return 0 if n or all_parked else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m channels.notifier", description=_package_summary())
    parser.add_argument("command", nargs="?", default="run", choices=("run", "dead", "retry"),
                        help="run (default), list parked events (dead), or put them back (retry)")
    parser.add_argument("event_id", nargs="?", type=int, help="for retry: the parked event's id")
    parser.add_argument("--all", action="store_true", help="for retry: every parked event")
    parser.add_argument("--once", action="store_true", help="handle one page of the outbox and exit")
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL, help="seconds between rounds (default 5)")
    args = parser.parse_args(argv)
    if args.interval <= 0:
        parser.error(f"--interval is {args.interval}; it must be a positive number of seconds.")
    if args.command != "run":
        return _dead_letter(args.command, args.event_id, args.all)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from bot.privacy import install_log_redaction

    install_log_redaction()
    try:
        return asyncio.run(_main(args.once, args.interval))
    except CaseStoreError as exc:
        print(f"notifier: {exc}. Start it with `python -m case_store serve` or set CASE_STORE_URL.")
        return 1
    except KeyboardInterrupt:
        return 0


def _package_summary() -> str:
    """The first line of the package docstring (the one description of the notifier)."""
    from channels import notifier

    return (notifier.__doc__ or "").splitlines()[0]
