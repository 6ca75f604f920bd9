"""Who may see which requests' figures: the one home of that rule and of small-cell suppression.

Every KPI query takes a Scope; every page and export builds one from the signed-in account's role
(channels/accounts.py holds accounts and roles) or uses PUBLIC for the citizens' page.

The public page never shows a figure computed from fewer than MIN_PUBLIC_CELL requests (primary
suppression), and no such figure can be worked out from what it does show (complementary
suppression, `hidden_cells`): a hidden cell is never the only hidden part of a visible total
(the national figure minus the entities shown, an entity's range total minus its periods shown),
the hidden parts of a visible total add up to at least MIN_PUBLIC_CELL requests, and their sum
does not pin any one of them (two hidden parts of 1 and 1, or 4 and 4, would).
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict, deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The public page never shows a figure computed from fewer requests than this.
MIN_PUBLIC_CELL = 5

ROLES = ("ops_room", "minister", "entity", "public")


@dataclass(frozen=True)
class Scope:
    """The slice of requests a viewer may see.

    role: ops_room (everything), minister (one sector), entity (one entity: a focal point or a
    secretary general), public (national and per-entity aggregates only, no free text, small
    cells suppressed).
    """

    role: str
    sector: str | None = None
    entity: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role {self.role!r} is not one of {', '.join(ROLES)}")
        if self.role == "minister" and not self.sector:
            raise ValueError("a minister's scope needs a sector")
        if self.role == "entity" and not self.entity:
            raise ValueError("an entity's scope needs an entity")
        if self.role in ("ops_room", "public") and (self.sector or self.entity):
            raise ValueError(f"the {self.role} scope covers every entity; give no sector or entity")

    @property
    def suppress_small_cells(self) -> bool:
        return self.role == "public"

    @property
    def free_text_allowed(self) -> bool:
        return self.role != "public"


OPS_ROOM = Scope("ops_room")
PUBLIC = Scope("public")


def suppressed(count: int | None, scope: Scope) -> bool:
    """True when a cell computed from `count` requests must not be shown to this scope."""
    return scope.suppress_small_cells and (count or 0) < MIN_PUBLIC_CELL


# The citizens' page shows national and per-entity aggregates only.
PUBLIC_BREAKDOWNS = (None, "entity")


def check_breakdown(scope: Scope, by: str | None) -> None:
    """Refuse a breakdown this scope may not see (ValueError naming what is allowed)."""
    if scope.role == "public" and by not in PUBLIC_BREAKDOWNS:
        raise ValueError(f"the public scope shows national and per-entity figures only; by must be None or 'entity', got {by!r}")


# --- complementary suppression -----------------------------------------------------------------

# The league table ranks only entities with at least this many requests behind the ranked figure
# (an entity with 2 answered requests, both in time, is not "the best" of the country): the
# default on the public page, and what every dashboard's league table passes.
MIN_RANKED_PUBLIC = 30

Cell = tuple[Hashable, Hashable]  # (period, group)
NATIONAL = "*"  # the period key of the national range total
WHOLE = ""  # hidden_cells' key of the cells from which nothing may be shown


@dataclass
class Hidden:
    """What the public may not see of one figure's base: (period, group) cells, group totals over
    the range, national (period) cells and the national range total."""

    cells: set[Cell] = field(default_factory=set)
    totals: set[Hashable] = field(default_factory=set)
    national: set[Hashable] = field(default_factory=set)  # periods, and NATIONAL for the range total


def _pinned(values: Sequence[int], primary: Sequence[bool], floor: int) -> bool:
    """True when the sum of these hidden parts fixes one of them: each primary part is known to
    lie in [floor, MIN_PUBLIC_CELL - 1], each complementary one to be at least MIN_PUBLIC_CELL."""
    top = 10**12
    lo = [floor if p else MIN_PUBLIC_CELL for p in primary]
    hi = [MIN_PUBLIC_CELL - 1 if p else top for p in primary]
    total, sum_lo, sum_hi = sum(values), sum(lo), sum(hi)
    for i in range(len(values)):
        low = max(lo[i], total - (sum_hi - hi[i]))
        high = min(hi[i], total - (sum_lo - lo[i]))
        if low >= high:
            return True
    return False


def _protect(counts: Mapping[Any, int], families: Sequence[tuple[Any, Sequence[Any]]],
             member_of: Mapping[Any, Sequence[int]], hidden: set[Any], floor: int) -> set[Any]:
    """Grow `hidden` until every family (a total and its parts, all keys of `counts`) whose total
    is visible either hides none of its parts or hides parts adding up to at least
    MIN_PUBLIC_CELL that the sum does not pin. A failing family hides its smallest visible part,
    or its total when that part is the last one visible (a table of nothing but dashes under a
    visible total helps no one). `member_of`: the families each key is in (as a part or the
    total), to look again only at those a new hidden key touches. Deterministic for the same
    table: families are taken in order, ties broken by the key's text."""
    primary = {k for k, n in counts.items() if n < MIN_PUBLIC_CELL}
    hidden = set(hidden) | primary
    queue = deque(range(len(families)))
    queued = set(queue)
    while queue:
        i = queue.popleft()
        queued.discard(i)
        total, parts = families[i]
        if total in hidden:
            continue
        gone = [k for k in parts if k in hidden]
        if not gone:
            continue
        values = [counts[k] for k in gone]
        if len(gone) >= 2 and sum(values) >= MIN_PUBLIC_CELL and not _pinned(values, [k in primary for k in gone], floor):
            continue
        visible = [k for k in parts if k not in hidden]
        pick = min(visible, key=lambda k: (counts[k], str(k))) if len(visible) > 1 else total
        hidden.add(pick)
        for j in (*member_of.get(pick, ()), i):
            if j not in queued:
                queue.append(j)
                queued.add(j)
    return hidden


_MEMO: OrderedDict[Hashable, dict[str, Hidden]] = OrderedDict()
_MEMO_SIZE = 32
_MEMO_LOCK = threading.Lock()


def hidden_cells(cells: Mapping[Cell, Mapping[str, int | None]], bases: Sequence[str], *, with_totals: bool = True,
                 floor: Mapping[str, int] | None = None) -> dict[str, Hidden]:
    """_hidden_cells, remembered for the last few tables: a page asks it for the same table once
    per view (volume, delays, satisfaction, league). The key is the whole table, so a changed
    figure is a new question; the answer is not to be modified."""
    key = (tuple(sorted(((str(p), str(g), *(int(v.get(b) or 0) for b in bases)) for (p, g), v in cells.items()))),
           tuple(bases), with_totals, tuple(sorted((floor or {}).items())))
    with _MEMO_LOCK:  # pages are built in worker threads
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    answer = _hidden_cells(cells, bases, with_totals=with_totals, floor=floor)
    with _MEMO_LOCK:
        _MEMO[key] = answer
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.popitem(last=False)
    return answer


def _hidden_cells(cells: Mapping[Cell, Mapping[str, int | None]], bases: Sequence[str], *, with_totals: bool = True,
                  floor: Mapping[str, int] | None = None) -> dict[str, Hidden]:
    """Primary and complementary suppression of a table of entity cells (period, entity) for each
    base count in `bases`; the first is the cells' request count. The table's margins are what the
    public page can also see: each entity's total over the range (when `with_totals`), the national
    figure of each period and the national range total (sums of the cells), so the same answer
    serves the national view and the per-entity one (whatever order the cells come in).

    Returns, per base, the cells, entity totals and national cells whose figures of that base must
    not be shown, and under WHOLE those computed from fewer than MIN_PUBLIC_CELL requests, of which
    nothing may be shown. `floor`: the smallest value a present cell of that base can have (1 for
    the request count: a listed cell has a request; 0 for the others)."""
    floor = {bases[0]: 1, **(floor or {})}
    keys = sorted(cells, key=lambda k: (str(k[0]), str(k[1])))
    periods = sorted({p for p, _ in keys}, key=str)
    groups = sorted({g for _, g in keys}, key=str)
    # The families are the same for every base: build them once.
    by_period: dict[Hashable, list[Any]] = defaultdict(list)
    by_group: dict[Hashable, list[Any]] = defaultdict(list)
    for period, group in keys:
        by_period[period].append(("cell", period, group))
        by_group[group].append(("cell", period, group))
    families: list[tuple[Any, Sequence[Any]]] = [(("national", p), by_period[p]) for p in periods]
    if with_totals:
        families += [(("total", g), by_group[g]) for g in groups]
        families.append((("national", NATIONAL), [("total", g) for g in groups]))
        families.append((("national", NATIONAL), [("national", p) for p in periods]))
    member_of: dict[Any, list[int]] = defaultdict(list)
    for i, (total, parts) in enumerate(families):
        member_of[total].append(i)
        for k in parts:
            member_of[k].append(i)

    out: dict[str, Hidden] = {}
    first: set[Any] = set()
    for base in bases:
        counts: dict[Any, int] = {}
        totals: dict[Hashable, int] = dict.fromkeys(groups, 0)
        national: dict[Hashable, int] = dict.fromkeys(periods, 0)
        for period, group in keys:
            n = int(cells[(period, group)].get(base) or 0)
            counts[("cell", period, group)] = n
            totals[group] += n
            national[period] += n
        counts.update({("national", p): n for p, n in national.items()})
        counts[("national", NATIONAL)] = sum(national.values())
        if with_totals:
            counts.update({("total", g): n for g, n in totals.items()})
        hidden = _protect(counts, families, member_of, first, floor.get(base, 0))
        if base == bases[0]:  # too few requests: every figure of the cell goes, whatever its base
            first = {k for k, n in counts.items() if n < MIN_PUBLIC_CELL}
            out[WHOLE] = _split(first)
        out[base] = _split(hidden)
    return out


def _split(keys: set[Any]) -> Hidden:
    return Hidden(cells={(k[1], k[2]) for k in keys if k[0] == "cell"},
                  totals={k[1] for k in keys if k[0] == "total"},
                  national={k[1] for k in keys if k[0] == "national"})

