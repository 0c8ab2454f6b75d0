"""Configuration models: a loop (estimator, strategy, features, backend, scoring), a step, names."""
