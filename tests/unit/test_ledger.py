"""The round ledger on the real (session) MongoDB."""

import itertools

import pytest

from alflow.errors import LedgerError
from alflow.state import ledger as L

_names = (f"ledger-{i}" for i in itertools.count())


def test_happy_path_transitions_are_allowed():
    path = [L.QUERIED, L.EXPORTED, L.WAITING, L.WAITING, L.INGESTED, L.TAUGHT]
    for old, new in itertools.pairwise(path):
        L.check_transition("x", 1, old, new)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (L.TAUGHT, L.QUERIED),
        (L.QUERIED, L.TAUGHT),
        (L.CANCELLED, L.EXPORTED),
        (L.INGESTED, L.QUERIED),
    ],
)
def test_illegal_transitions_say_what_is_allowed(old, new):
    with pytest.raises(LedgerError, match=f"is '{old}' and cannot become '{new}'"):
        L.check_transition("x", 1, old, new)
