"""Importing this module points FiftyOne and Prefect at alflow's state directory.

It is the one alflow module whose import changes the process (see
:func:`alflow.services.environment.configure_environment`): entry points (the flows and tasks
packages, the FiftyOne plugin, ``deployments/serve.py``, the benchmarks) import it first,
because FiftyOne and Prefect read their settings once, when they are imported.
"""

from alflow.services.environment import configure_environment

STATE_DIR = configure_environment()
