"""The embedded case store: requests, timelines, SLA due dates, ratings and the outbox.

`python -m case_store serve` runs it (aiohttp, 127.0.0.1:8800 by default); the HTTP contract
is `case_store/openapi.yaml`, so the bot never depends on anything else in this package.
"""
