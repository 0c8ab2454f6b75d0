"""Derived random seeds, so every round's randomness follows from the loop's ``random_state``."""

from __future__ import annotations


def round_seed(random_state: int, round_number: int) -> int:
    """The seed a round's query uses: distinct per round, reproducible per loop.

    The in-process simulation uses the same derivation, so a simulated loop and the same loop
    run through the Prefect flows query the same samples.
    """
    return random_state * 100_003 + round_number
