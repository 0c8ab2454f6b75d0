"""Runnable examples that the tests exercise (see README.md and docs/)."""
