"""What a command shows on the terminal: its own output, and Prefect's log only when asked.

A user error raised inside a flow or task reaches the command line as the same exception, and
:func:`alflow.cli.main` prints it as one line (``alflow: error: ...``). Without this module
Prefect would first print the failed task's and flow's ERROR records with their tracebacks
(50-70 lines). Those records still go to the run's logs on the Prefect server; only the
terminal is spared them. ``--verbose`` (or ``ALFLOW_VERBOSE=1``) shows everything: Prefect's
INFO lines, the failure records and the traceback of the error.
"""

from __future__ import annotations

import logging
import os

ENV_VERBOSE = "ALFLOW_VERBOSE"
RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs")
# Prefect's queue services log "Still processing items: N items remaining..." while a command
# exits before its events are sent (a Secret block's load emits one): not the user's concern
QUEUE_LOGGERS = ("EventsWorker",)


def verbose() -> bool:
    """Whether the user asked for Prefect's log and tracebacks on the terminal."""
    return os.environ.get(ENV_VERBOSE, "").strip().lower() in ("1", "true", "yes", "on")


def set_verbose() -> None:
    os.environ[ENV_VERBOSE] = "1"


class RunFailureFilter(logging.Filter):
    """Drops flow- and task-run records of ERROR and above from the terminal.

    The failure they describe is re-raised to the command, which prints it (one line for a
    user error, a traceback for a bug), so on the terminal they only repeat it at length.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno >= logging.ERROR and record.name.startswith(RUN_LOGGERS))


def quiet_prefect() -> None:
    """Before Prefect is imported: INFO lines stay in the run logs, off the terminal.

    The loggers keep INFO (so the server's run logs are complete); only the console handler
    is raised to WARNING, through Prefect's ``PREFECT_LOGGING_<path>`` overrides.
    """
    if verbose():
        return
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def filter_run_failures() -> None:
    """After Prefect configured logging: keep run-failure records off the terminal."""
    if verbose():
        return
    from prefect.logging.configuration import ensure_logging_setup
    from prefect.logging.handlers import PrefectConsoleHandler

    # configure now, so the handler exists; Prefect's own later set-up is incremental and
    # keeps it (and its filter)
    ensure_logging_setup()
    for name in QUEUE_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler) and not any(
            isinstance(f, RunFailureFilter) for f in handler.filters
        ):
            handler.addFilter(RunFailureFilter())
