"""alflow: active learning for FiftyOne datasets, run as Prefect 3 flows, annotated in CVAT.

Importing ``alflow`` changes nothing: no directory is created, no variable set, no library
patched. alflow's entry points (the ``alflow`` command, the flows and tasks packages, the
FiftyOne plugin, ``deployments/serve.py``, the benchmarks) point FiftyOne's database and
Prefect's home at the state directory first, by calling
:func:`alflow.services.environment.configure_environment` before FiftyOne or Prefect is
imported; code of your own that uses alflow's modules does the same.
"""

__version__ = "0.1.0"
