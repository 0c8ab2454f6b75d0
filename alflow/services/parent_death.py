"""Child processes that die with the command that started them, however it ends.

A command that is SIGKILLed (the OOM killer, a CI timeout, ``kill -9``) runs no ``atexit``
hook and no ``finally``: a server it started and meant to stop is re-parented to PID 1 and runs
for ever. Reaping such orphans later needs a later command, and cannot tell a server of ours
from another program's that looks the same; so the child is instead tied to its parent when it
starts. On Linux the kernel does it: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` kills the child the
moment its parent dies (SIGKILL rather than SIGTERM because nobody waits for a graceful exit,
and a server hanging in its shutdown would stay). Two rules make that watertight:

* the tie is set by a launcher (this file, run as a script) that then ``exec``s the real
  command, which keeps it: no ``preexec_fn``, which is unsafe in a process with threads;
* the launcher checks that its parent is still the one that started it after setting the tie,
  so a parent that died in between (when the signal would never come) ends the child too.

The signal follows the *thread* that started the child, so start it from the main thread (or
one that lives as long as the command). Elsewhere than Linux there is no such call: the child
then ends with the command's normal exit only (its own ``atexit`` stop).
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def bound_command(command: list[str]) -> list[str]:
    """``command`` started through this launcher, so it dies with the calling process.

    ``-I`` keeps the launcher from putting this directory on ``sys.path`` (and from reading
    ``PYTHON*`` variables); the command it executes gets the environment unchanged.
    """
    return [sys.executable, "-I", os.path.abspath(__file__), str(os.getpid()), "--", *command]


def tie_to_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when ``parent`` dies; exit if it already has."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the tie: nobody is left to serve


def main(argv: list[str]) -> None:
    parent, separator, *command = argv
    if separator != "--" or not command:
        raise SystemExit("usage: parent_death.py PARENT_PID -- COMMAND [ARG...]")
    tie_to_parent(int(parent))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
