import pytest

from insights.scope import MIN_PUBLIC_CELL, OPS_ROOM, PUBLIC, Scope, suppressed


def test_public_cells_under_five_are_suppressed_and_others_are_not() -> None:
    assert MIN_PUBLIC_CELL == 5
    assert suppressed(4, PUBLIC) and suppressed(0, PUBLIC) and suppressed(None, PUBLIC)
    assert not suppressed(5, PUBLIC)
    assert not suppressed(1, OPS_ROOM)
    assert not suppressed(1, Scope("entity", entity="moi"))


@pytest.mark.parametrize(
    "kwargs",
    [{"role": "root"}, {"role": "minister"}, {"role": "entity"}, {"role": "public", "entity": "x"}, {"role": "ops_room", "sector": "health"}],
)
def test_a_scope_that_would_leak_or_mean_nothing_is_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Scope(**kwargs)


def test_free_text_only_outside_the_public_page() -> None:
    assert not PUBLIC.free_text_allowed and OPS_ROOM.free_text_allowed
