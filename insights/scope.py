"""Who may see which requests' figures: the one home of that rule and of small-cell suppression.

Every KPI query takes a Scope; every page and export builds one from the signed-in account's role
(channels/accounts.py holds accounts and roles) or uses PUBLIC for the citizens' page.
"""

from __future__ import annotations

from dataclasses import dataclass

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
