"""Data access: samples read and written in FiftyOne, vectors, feature caches, labels, freshness."""
