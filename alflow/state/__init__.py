"""Durable state of loops: the round ledger, the loop lease and locks, versions of saved state."""
