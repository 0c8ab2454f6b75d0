"""The offline demo: digits data in FiftyOne, its loop configurations, the in-process simulation."""
