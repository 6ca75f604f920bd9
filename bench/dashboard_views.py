"""Time one dashboard page's figures (insights/views.build: every KPI query of the view) on a
seeded case store, per view and period: `python bench/dashboard_views.py sqlite:///var/kpi.db`
(seed it first: `python -m case_store --database-url URL seed --requests 100000`). Prints the
median and max of five builds; the request KPI queries themselves are bench/kpi_load.py's."""

from __future__ import annotations

import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bot.sql import INSIGHTS, migrate, sync_engine
from insights import views
from insights.case_store_source import read_only_engine
from insights.scope import OPS_ROOM, PUBLIC, Scope


def main(url: str) -> None:
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    entity, sector = db.execute("SELECT entity, sector FROM requests GROUP BY entity ORDER BY count(*) DESC").fetchone()
    analytics = f"sqlite:///{Path(tempfile.mkdtemp()) / 'insights.db'}"
    migrate(INSIGHTS, analytics)
    src = views.Sources(read_only_engine(url), sync_engine(analytics), lambda e, _l: e, lambda s, _l: s, lambda _a, _b: [])
    scopes = (("ops_room", OPS_ROOM), ("minister", Scope("minister", sector=sector)), ("entity", Scope("entity", entity=entity)),
              ("public", PUBLIC))
    for name, scope in scopes:
        for period in ("30d", "12m"):
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                views.build(name, scope, "ar", period, src)
                times.append(time.perf_counter() - t0)
            print(f"{name:9} {period:4} median {statistics.median(times) * 1000:7.0f} ms  max {max(times) * 1000:7.0f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
