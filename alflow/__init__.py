"""alflow: active learning for FiftyOne datasets, run as Prefect 3 flows, annotated in CVAT.

Importing ``alflow`` points FiftyOne's database and Prefect's home at the project-local state
directory (see :mod:`alflow.services.environment`) unless the environment already says otherwise; it
must therefore be imported before ``fiftyone`` or ``prefect``.
"""

from alflow.services.environment import configure_environment

__version__ = "0.1.0"

configure_environment()
