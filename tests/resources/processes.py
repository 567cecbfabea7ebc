"""Subprocesses a test starts, ended by their pid when the test ends.

A test never ends processes by matching their name or command line: that would reach
processes of other test runs, or of anyone, on a shared machine. It ends what it started, by pid, and, for a process
it started as the leader of a new process group, that group (the processes it forked).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

# Run before the command, in the process that becomes it (exec keeps the pid): SIGINT back to its
# default disposition and unblocked, then exec. Both are inherited across exec, so a pytest
# started where SIGINT is ignored (a background job of a non-interactive shell, `trap "" INT`)
# passes the ignored SIGINT on, and Python keeps an inherited ignored SIGINT instead of raising
# KeyboardInterrupt. Done in a process of its own rather than in a ``preexec_fn``, which runs
# Python between fork and exec and may deadlock when the test process has threads.
_RESTORE_SIGINT = (
    "import os, signal, sys;"
    "signal.signal(signal.SIGINT, signal.SIG_DFL);"
    "signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT});"
    "os.execvp(sys.argv[1], sys.argv[1:])"
)


def with_sigint_restored(args: Sequence[str]) -> list[str]:
    """``args`` to be started with SIGINT as a command typed in a terminal has it:
    default disposition, not blocked, whatever the test process inherited."""
    return [sys.executable, "-S", "-c", _RESTORE_SIGINT, *args]


def end_process(process: subprocess.Popen[Any], grace: float = 15, group: bool = False) -> None:
    """End a process the test started: SIGTERM, then SIGKILL if it is still running after
    ``grace`` seconds; then close its pipes.

    With ``group`` (the process was started with ``start_new_session=True``), the signals go to
    its process group, and whatever of the group outlives the leader is killed: the leader's
    pid is the group's id, and stays so while any member lives.
    """

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, sig)
            else:
                os.kill(process.pid, sig)

    if process.poll() is None:
        send(signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            process.wait()
    if group:
        send(signal.SIGKILL)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


class StartedProcesses:
    """The subprocesses one test starts; ``end_all()`` ends those still running, by pid.

    ``start(args, own_group=True)`` makes the process the leader of a new process group, so
    ending it also ends the processes it forked (pipeline steps, server workers).
    ``interruptible=True`` starts it with SIGINT restored (``with_sigint_restored``), for a test
    that interrupts it as Ctrl-C would.
    """

    def __init__(self, grace: float = 15) -> None:
        self.grace = grace
        self._started: list[tuple[subprocess.Popen[Any], bool]] = []

    def start(
        self,
        args: Sequence[str],
        *,
        own_group: bool = False,
        interruptible: bool = False,
        **popen: Any,
    ) -> subprocess.Popen[Any]:
        """``subprocess.Popen(args, **popen)``, remembered to be ended with the test."""
        if interruptible:
            args = with_sigint_restored(args)
        process: subprocess.Popen[Any] = subprocess.Popen(
            args, start_new_session=own_group, **popen
        )
        self._started.append((process, own_group))
        return process

    def end_all(self) -> None:
        """End every process started here (newest first) and its group if it has one."""
        while self._started:
            process, group = self._started.pop()
            end_process(process, self.grace, group)
