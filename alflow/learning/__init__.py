"""Learning: estimators fitted as modAL learners, checkpoints, scoring, Dask, evaluation."""
