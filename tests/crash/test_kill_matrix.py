"""A fatal error at every state transition of a round, of loop creation and of rollback, then
the next step: the loop ends exactly where an uninterrupted loop ends."""

from __future__ import annotations

import pytest

from alflow.backends.oracle import OracleBackend
from alflow.data import bulk_writes, store
from alflow.learning import learners
from alflow.rounds import history
from alflow.state.ledger import EXPORTED, INGESTED, TAUGHT, Ledger
from tests.crash.harness import kill_at, play, snapshot
from tests.helpers import loop_config, unique_name

ROUND = [("create", None), ("round", "kill"), ("round", None)]
CREATE = [("create", "kill"), ("round", None)]
ROLLBACK = [
    ("create", None),
    ("round", None),
    ("round", None),
    ("rollback", "kill"),
    ("round", None),
]


def to_state(state):
    return lambda self, loop, n, new, **kw: new == state


POINTS = {
    # a query round
    "round number allocated": (ROUND, Ledger, "allocate_round", "after", None),
    "batch recorded": (ROUND, Ledger, "insert_round", "after", None),
    "export reference saved": (ROUND, OracleBackend, "export", "after", None),
    "exported": (ROUND, Ledger, "set_state", "after", to_state(EXPORTED)),
    "labels written": (ROUND, store, "write_labels", "after", None),
    "ingested": (ROUND, Ledger, "set_state", "after", to_state(INGESTED)),
    "checkpoint saved": (ROUND, learners, "save_checkpoint", "after", None),
    "before taught": (ROUND, Ledger, "set_state", "before", to_state(TAUGHT)),
    "taught": (ROUND, Ledger, "set_state", "after", to_state(TAUGHT)),
    # loop creation
    "loop stored": (CREATE, Ledger, "create_loop", "after", None),
    "split written": (CREATE, bulk_writes, "write_strings", "after", None),
    "round 0 recorded": (CREATE, Ledger, "insert_round", "after", None),
    # rollback
    "rollback number allocated": (ROLLBACK, Ledger, "allocate_round", "after", None),
    "labels excluded": (ROLLBACK, history, "_set_excluded", "after", None),
    "rollback recorded": (ROLLBACK, Ledger, "insert_round", "after", None),
}


@pytest.fixture(scope="module")
def references(digits):
    """The uninterrupted loop of each scenario."""
    out = {}
    for key, actions in (("round", ROUND), ("create", CREATE), ("rollback", ROLLBACK)):
        config = loop_config(unique_name(f"ref-{key}"))
        play(config, actions)
        out[id(actions)] = snapshot(config.name)
    return out


@pytest.mark.parametrize("point", list(POINTS))
def test_a_kill_then_the_next_step_ends_like_an_uninterrupted_loop(references, monkeypatch, point):
    actions, owner, name, when, match = POINTS[point]
    config = loop_config(unique_name("killed"))
    fired = play(config, actions, kill=lambda: kill_at(monkeypatch, owner, name, when, match))
    assert fired, f"the kill at {point!r} never fired"
    assert snapshot(config.name) == references[id(actions)]


DETECTION_POINTS = [point for point, spec in POINTS.items() if spec[0] is ROUND]


@pytest.fixture(scope="module")
def detection_reference(boxes_config):
    """The uninterrupted detection loop: created, then two rounds."""
    config = boxes_config(name=unique_name("ref-boxes"))
    play(config, ROUND)
    return snapshot(config.name)


@pytest.mark.parametrize("point", DETECTION_POINTS)
def test_a_kill_in_a_detection_round_then_the_next_step_ends_like_an_uninterrupted_loop(
    detection_reference, boxes_config, monkeypatch, point
):
    _, owner, name, when, match = POINTS[point]
    config = boxes_config(name=unique_name("killed-boxes"))
    fired = play(config, ROUND, kill=lambda: kill_at(monkeypatch, owner, name, when, match))
    assert fired, f"the kill at {point!r} never fired"
    assert snapshot(config.name) == detection_reference
