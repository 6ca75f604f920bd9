"""The notifier: case-store outbox events -> a message to the citizen, on their channel, in their language.

    python -m channels.notifier [--once] [--interval 5]
    python -m channels.notifier dead            # events parked after NOTIFIER_MAX_ATTEMPTS failures
    python -m channels.notifier retry ID|--all  # put parked events back in the round

Roles:
- read: `GET /v1/outbox?after=<id>` (unacknowledged events, oldest first) and
  `POST /v1/outbox/{id}/ack` on the case store, through backend_client.CaseStoreClient.
- render: `render_event` is a pure function from an event to the text to send (or None), with
  the `notify` Babel catalog. A confidential report never carries its narrative or the
  entity's answer: only "there is an update on your report <ref>, check it with your PIN".
- send: Messenger through `MessengerOutput.send_notification` (tagged ACCOUNT_UPDATE, so it
  may go out after Messenger's 24-hour window), SMS through `TwilioSmsOutput.send_sms`, i.e. the
  one SMS sender (channels/sms_sender.py: nothing to a number that opted out). Both send at
  once: the notifier's durable queue is the case store's outbox, so it does not queue twice.

Delivery is at least once, and the cursor is the outbox's own ack state plus an in-memory
`after` id, so a restart simply resumes with whatever is unacknowledged:
- sent, or nothing to send (no notify address, a `created` event) -> ack;
- refused for good (number opted out, a 4xx from Graph or Twilio) -> ack, logged without address;
- failed for now (network, timeout, 5xx, throttling, channel not configured) -> not acked: the
  scan goes on past it, and once it reaches the end of the outbox it rewinds to the first
  failure, so the event is retried in a later round, after an exponential backoff with jitter.
  Later events of the same request wait behind it, so a citizen never reads "in progress"
  after "answered";
- failed NOTIFIER_MAX_ATTEMPTS times -> parked: left unacked in the case store, skipped by the
  scan (later events of its request go on), listed by `dead`, put back by `retry`. Attempts
  are kept in the `notifier_attempts` table next to the channel state (event ids, kinds,
  channels, error codes: no address, reference or text), so a restart does not reset them.
Logs carry event ids, kinds, channels and outcomes: never addresses, message text or tokens.

Safe to run twice (a second replica, a rollout, an operator's stray `python -m channels.notifier`):
a notifier sends only while it holds the lease, a row in `notifier_lease` next to the attempts
(the channel state's database, SQLite or PostgreSQL). The holder renews it before every event,
so it never sends on a lease older than NOTIFIER_LEASE_SECONDS; another notifier waits, checking
each round, and takes over when the holder stops (released at once) or dies (expired). The lease
is taken by one conditional UPDATE (or the first INSERT), which both databases serialise.
A holder that was stalled past its lease learns it lost it before its next send, and starts its
scan afresh when it gets the lease back. The clocks of the notifiers' hosts must agree to well
within the lease (NTP).

Modules: render (event -> text), deliver (text -> Messenger/SMS, and the senders from the
environment), tables (the two tables, one MetaData), attempts (retry cap, dead letter), lease
(one sender at a time), loop (the Notifier: outbox round, ack, retry, park), cli (`__main__`).
"""

from backend_client import CaseStoreError
from channels.notifier.attempts import Attempts
from channels.notifier.cli import main
from channels.notifier.deliver import Outcome, messenger_from_env, sms_from_env
from channels.notifier.lease import DEFAULT_LEASE_SECONDS, Lease
from channels.notifier.loop import DEFAULT_INTERVAL, HTTP_TIMEOUT, PAGE_SIZE, Notifier
from channels.notifier.render import ANSWER_EXCERPT, CONFIDENTIAL_TYPES, DOMAIN, excerpt, render_event
from channels.notifier.render import _text as _text  # tests/bot/test_user_text.py checks the wrapper's signature
from channels.notifier.tables import attempts_table, lease_table

# What `channels.notifier` offered before it became a package (CaseStoreError: backend_client's).
__all__ = [
    "ANSWER_EXCERPT", "CONFIDENTIAL_TYPES", "DEFAULT_INTERVAL", "DEFAULT_LEASE_SECONDS", "DOMAIN", "HTTP_TIMEOUT",
    "PAGE_SIZE", "Attempts", "CaseStoreError", "Lease", "Notifier", "Outcome", "attempts_table", "excerpt",
    "lease_table", "main", "messenger_from_env", "render_event", "sms_from_env",
]
