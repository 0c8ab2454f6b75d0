"""Local services alflow starts and finds: its Prefect server, its MongoDB, process records."""
