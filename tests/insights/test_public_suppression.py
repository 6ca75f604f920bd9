"""The public page's small cells cannot be recovered by subtraction (complementary suppression,
insights/scope.py), and its league table ranks no entity on two or three requests.

Each test plays the attacker: it takes what the public views show (the national figures, the
per-entity figures, each entity's range total and its periods) and subtracts the visible parts
from every visible total; what is left must be nothing, or the sum of at least two hidden parts
worth at least MIN_PUBLIC_CELL requests that does not pin any of them."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlalchemy.engine import Engine, create_engine

from case_store.db import sync_url
from case_store.models import Request
from insights import requests_kpi as kpi
from insights.case_store_source import read_only_engine
from insights.scope import MIN_PUBLIC_CELL, MIN_RANKED_PUBLIC, NATIONAL, OPS_ROOM, PUBLIC, WHOLE, _pinned, hidden_cells

AMMAN = ZoneInfo("Asia/Amman")
SINCE, UNTIL = dt.date(2026, 9, 1), dt.date(2026, 11, 30)
NOW = dt.datetime(2026, 12, 1, 9, tzinfo=dt.timezone.utc)


# --- the rule on tables ----------------------------------------------------------------------------


def attack(cells: dict[tuple[str, str], int], hidden: Any, with_totals: bool = True) -> None:
    """Subtract the visible parts from every visible total of the table and its margins (the
    entities' range totals only where they are shown)."""
    periods = sorted({p for p, _ in cells})
    groups = sorted({g for _, g in cells})
    totals = {g: sum(n for (p, h), n in cells.items() if h == g) for g in groups}
    national = {p: sum(n for (q, _), n in cells.items() if q == p) for p in periods}
    families = []  # (total visible?, [(part value, part hidden?, part primary?)])
    for p in periods:
        families.append((p not in hidden.national,
                         [(cells[(p, g)], (p, g) in hidden.cells, cells[(p, g)] < MIN_PUBLIC_CELL) for g in groups if (p, g) in cells]))
    for g in groups if with_totals else ():
        families.append((g not in hidden.totals,
                         [(cells[(p, g)], (p, g) in hidden.cells, cells[(p, g)] < MIN_PUBLIC_CELL) for p in periods if (p, g) in cells]))
    if with_totals:
        families.append((NATIONAL not in hidden.national, [(totals[g], g in hidden.totals, totals[g] < MIN_PUBLIC_CELL) for g in groups]))
        families.append((NATIONAL not in hidden.national, [(national[p], p in hidden.national, national[p] < MIN_PUBLIC_CELL) for p in periods]))
    for total_visible, parts in families:
        # every part under the threshold is hidden, wherever it is
        assert all(hide for value, hide, primary in parts if primary)
        if not total_visible:
            continue
        gone = [(value, primary) for value, hide, primary in parts if hide]
        residual = sum(value for value, _ in gone)  # = the visible total minus the visible parts
        if gone:
            assert len(gone) >= 2 and residual >= MIN_PUBLIC_CELL, parts
            assert not _pinned([v for v, _ in gone], [p for _, p in gone], 1), parts


def test_one_small_entity_is_not_left_as_the_national_figure_minus_the_others() -> None:
    cells = {("2026-11", "moh"): 120, ("2026-11", "mot"): 40, ("2026-11", "tiny"): 3}
    hidden = hidden_cells({k: {"count": v} for k, v in cells.items()}, ("count",))["count"]
    assert ("2026-11", "tiny") in hidden.cells and ("2026-11", "mot") in hidden.cells  # the smallest other one
    assert ("2026-11", "moh") not in hidden.cells and "2026-11" not in hidden.national
    attack(cells, hidden)


def test_a_small_period_is_not_left_as_the_entitys_total_minus_its_other_periods() -> None:
    cells = {("2026-09", "moh"): 50, ("2026-10", "moh"): 2, ("2026-11", "moh"): 60,
             ("2026-09", "mot"): 30, ("2026-10", "mot"): 30, ("2026-11", "mot"): 30}
    hidden = hidden_cells({k: {"count": v} for k, v in cells.items()}, ("count",))["count"]
    assert ("2026-10", "moh") in hidden.cells
    assert ("2026-09", "moh") in hidden.cells  # moh's total minus its periods would give October
    attack(cells, hidden)


def test_two_hidden_parts_that_their_sum_would_pin_are_not_enough() -> None:
    # 1 + 1 = 2 < 5; 4 + 4 = 8 gives both away (each is at most 4); 2 + 3 = 5 does not.
    for small, pinned in (((1, 1), True), ((4, 4), True), ((2, 3), False)):
        cells = {("p", "a"): small[0], ("p", "b"): small[1], ("p", "c"): 90, ("p", "d"): 95}
        hidden = hidden_cells({k: {"count": v} for k, v in cells.items()}, ("count",), with_totals=False)["count"]
        assert (("p", "c") in hidden.cells) is pinned, small
        attack(cells, hidden, with_totals=False)


@pytest.mark.parametrize("seed", range(40))
def test_random_tables_leave_nothing_to_subtract(seed: int) -> None:
    rng = random.Random(seed)
    periods = [f"2026-{m:02d}" for m in range(1, rng.randint(2, 7))]
    groups = [f"e{i}" for i in range(rng.randint(2, 9))]
    cells = {(p, g): rng.choice((1, 2, 3, 4, 5, 6, 9, 14, 40, 200)) for p in periods for g in groups if rng.random() < 0.85}
    hidden = hidden_cells({k: {"count": v} for k, v in cells.items()}, ("count",))["count"]
    attack(cells, hidden)


def test_the_figures_of_another_base_are_protected_the_same_way() -> None:
    # Enough requests everywhere, but one entity with 2 answered: its within-SLA share must not be
    # national minus the others (each share times its answered count is a count that subtracts).
    cells = {("p", "a"): {"count": 50, "with_answer": 40}, ("p", "b"): {"count": 30, "with_answer": 2},
             ("p", "c"): {"count": 60, "with_answer": 45}}
    out = hidden_cells(cells, ("count", "with_answer"))
    assert not out[WHOLE].cells and not out["count"].cells
    assert {("p", "b"), ("p", "a")} <= out["with_answer"].cells and ("p", "c") not in out["with_answer"].cells


# --- the rule on the KPI views ---------------------------------------------------------------------

# entity -> requests per month (Sep, Oct, Nov); "jfda" is small in October, "mot" small throughout
VOLUMES = {"moh": (40, 35, 50), "jfda": (12, 3, 15), "mot": (2, 1, 3), "gam": (20, 25, 18)}
SECTOR = {"moh": "health", "jfda": "health", "mot": "transport", "gam": "municipal"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    rng = random.Random(5)
    rows, n = [], 0
    for entity, per_month in VOLUMES.items():
        for month, count in zip((9, 10, 11), per_month):
            for _ in range(count):
                created = dt.datetime(2026, month, rng.randint(1, 28), rng.randint(7, 20), tzinfo=AMMAN)
                answered = created + dt.timedelta(hours=rng.randint(2, 200)) if rng.random() < 0.8 else None
                rows.append({
                    "id": n + 1, "reference": f"{4000000000 + n}", "idempotency_key": f"pub-{n}", "type": "inquiry",
                    "sector": SECTOR[entity], "entity": entity, "importance": "normal", "description": "x",
                    "description_encrypted": False, "language": "ar", "channel": "sms", "requester_id": f"sms_{n}",
                    "anonymous": False, "confidential": False, "status": "closed" if answered else "submitted",
                    "created_at": created, "updated_at": created, "due_at": created + dt.timedelta(days=4),
                    "escalation_level": 0, "reopen_count": 0, "answered_at": answered,
                    "rating_score": rng.randint(1, 5) if answered and rng.random() < 0.5 else None,
                    "rating_resolved": None})
                n += 1
    writer = create_engine(sync_url(database_url), future=True)
    with writer.begin() as conn:
        conn.execute(insert(Request.__table__), rows)
    writer.dispose()
    reader = read_only_engine(database_url)
    yield reader
    reader.dispose()


def _subtract(national: dict[str, Any], per_entity: dict[str, Any], field: str, base: str) -> None:
    """National minus the visible entities, per period and over the range, and each entity's range
    total minus its visible periods: either nothing is hidden (and nothing is left), or at least two
    parts are, and what is left is a figure about at least MIN_PUBLIC_CELL requests (`base`)."""
    checks = []
    for p in {r["period"] for r in per_entity["rows"]}:
        nat = next(r for r in national["rows"] if r["period"] == p)
        checks.append((nat, [r for r in per_entity["rows"] if r["period"] == p]))
    checks.append(((national["totals"] or [{}])[0], per_entity["totals"]))
    for total in per_entity["totals"]:
        checks.append((total, [r for r in per_entity["rows"] if r["group"] == total["group"]]))
    for total, parts in checks:
        if total.get(field) is None:
            continue
        gone = [r for r in parts if r[field] is None]
        if not gone:
            assert total[field] == sum(r[field] for r in parts)
            continue
        left = total[base] - sum(r[base] for r in parts if r[field] is not None)  # the hidden parts' base
        assert len(gone) >= 2 and left >= MIN_PUBLIC_CELL, (field, total, parts)


def test_the_public_views_leave_nothing_to_subtract(engine: Engine) -> None:
    for grain in ("month", "week"):
        v_nat = kpi.volume(engine, PUBLIC, SINCE, UNTIL, grain)
        v_ent = kpi.volume(engine, PUBLIC, SINCE, UNTIL, grain, "entity")
        for field in ("received", "answered", "closed", "open"):
            _subtract(v_nat, v_ent, field, "received")
        d_nat = kpi.delays(engine, PUBLIC, SINCE, UNTIL, grain, now=NOW)
        d_ent = kpi.delays(engine, PUBLIC, SINCE, UNTIL, grain, "entity", now=NOW)
        for field, base in (("count", "count"), ("with_answer", "with_answer"), ("within_sla", "with_answer"),
                            ("open", "open"), ("overdue", "open")):
            _subtract(d_nat, d_ent, field, base)
        s_nat = kpi.satisfaction(engine, PUBLIC, SINCE, UNTIL, grain)
        s_ent = kpi.satisfaction(engine, PUBLIC, SINCE, UNTIL, grain, "entity")
        for field, base in (("rated", "rated"), ("with_answer", "with_answer"), ("reopened", "with_answer")):
            _subtract(s_nat, s_ent, field, base)
    # mot (2, 1 and 3 requests) never shows; nor does jfda's October (3), nor what would give it away
    v_ent = kpi.volume(engine, PUBLIC, SINCE, UNTIL, "month", "entity")
    assert all(r["received"] is None for r in v_ent["rows"] if r["group"] == "mot")
    assert next(r for r in v_ent["rows"] if r["group"] == "jfda" and r["period"] == "2026-10-01")["received"] is None
    # the operations room sees it all
    ops = kpi.volume(engine, OPS_ROOM, SINCE, UNTIL, "month", "entity")
    assert not any(r["suppressed"] for r in ops["rows"]) and sum(r["received"] for r in ops["totals"]) == 224


def test_the_public_league_ranks_no_entity_on_a_handful_of_requests(engine: Engine) -> None:
    league = kpi.league(engine, PUBLIC, SINCE, UNTIL, "month", now=NOW)
    assert league["min_volume"] == MIN_RANKED_PUBLIC and league["ranked_on"] == "with_answer"
    ranked = [r for r in league["rows"] if r["rank"] is not None]
    assert ranked and all(r["with_answer"] >= MIN_RANKED_PUBLIC for r in ranked)
    assert [r["rank"] for r in ranked] == list(range(1, len(ranked) + 1))
    assert league["rows"][: len(ranked)] == ranked  # the unranked come after
    # jfda has 30 requests but fewer than 30 answered: listed, not ranked
    jfda = next(r for r in league["rows"] if r["entity"] == "jfda")
    assert jfda["rank"] is None
    # the operations room ranks everyone with a figure, as before
    assert all(r["rank"] for r in kpi.league(engine, OPS_ROOM, SINCE, UNTIL, "month", now=NOW)["rows"] if r["within_sla_share"] is not None)


def test_the_public_page_says_what_it_hides_and_why(engine: Engine) -> None:
    from insights import views

    src = views.Sources(engine, engine, lambda e, _l: e, lambda s, _l: s, lambda _a, _b: [])
    for lang, words in (("en", ("worked out by subtracting", f"at least {MIN_RANKED_PUBLIC} requests")),
                        ("ar", ("بطرح الأرقام الظاهرة", "على الأقل"))):
        d = views.build("public", PUBLIC, lang, "90d", src, now=NOW, span=(SINCE, UNTIL, "month"))
        notes = " ".join(d.notes)
        assert all(w in notes for w in words), notes


def test_a_changed_table_is_a_new_question_for_the_remembered_answers() -> None:
    cells = {("p", "a"): {"count": 50}, ("p", "b"): {"count": 40}, ("p", "c"): {"count": 60}}
    assert not hidden_cells(cells, ("count",))["count"].cells
    cells[("p", "b")] = {"count": 3}  # one figure changes: the answer must follow
    assert {("p", "b"), ("p", "a")} <= hidden_cells(cells, ("count",))["count"].cells
