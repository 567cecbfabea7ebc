"""Many ``usina`` commands in one process, for tests that run dozens of them.

A ``usina`` subprocess spends most of its second importing (SQLAlchemy, pandas, the client);
a test that compares dozens of commands pays that for each. ``CliSession`` starts this file
once as a subprocess with the command's environment, and each ``run(*args)`` has it call
``usina.cli.main.main()`` (the ``usina`` entry point) with ``sys.argv`` set to the command,
catching its exit status and everything written to file descriptors 1 and 2 while it ran,
as a fresh ``usina`` process would be seen from outside.

Between commands the process keeps nothing of the CLI's: the command's client is closed (the
next command builds its own from the settings, as a new process does), threads the command
left running are waited for (as a process's exit waits for them), and the environment is the
one the session started with.

Protocol: one JSON object ``{"args", "stdin"}`` per line on the process's stdin; one JSON
object ``{"code", "stdout", "stderr"}`` per command on its stdout. Commands see neither: their
stdin is a file holding the ``stdin`` text given to ``run`` (empty unless given: a password a
command reads, say), their output goes to temporary files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any


def _exit_code(exc: SystemExit) -> int:
    """The status a process exiting with ``exc`` has (``sys.exit("text")`` prints it, 1)."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run_one(args: list[str], stdin: str = "") -> tuple[int, bytes, bytes]:
    from usina.cli import context
    from usina.cli.main import main

    with (
        tempfile.TemporaryFile() as given,
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
    ):
        given.write(stdin.encode())
        given.flush()
        given.seek(0)
        saved = os.dup(0), os.dup(1), os.dup(2)
        saved_stdin = sys.stdin
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(given.fileno(), 0)
        os.dup2(out.fileno(), 1)
        os.dup2(err.fileno(), 2)
        # A fresh reader of file descriptor 0: the previous one may have buffered or hit its end.
        sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
        sys.argv = ["usina", *args]
        try:
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = _exit_code(exc)
            except BaseException:  # noqa: BLE001 - an uncaught error ends a process with 1
                traceback.print_exc()
                code = 1
            finally:
                made = context._client
                context.use_url(None)
                if made is not None:
                    made.close()
                # A process exits only once its other non-daemon threads have ended: wait for
                # them as it would (a command that leaves one running hangs here, as it would).
                for thread in threading.enumerate():
                    if thread is not threading.main_thread() and not thread.daemon:
                        thread.join()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            sys.stdin.close()
            sys.stdin = saved_stdin
            for target, fd in enumerate(saved):
                os.dup2(fd, target)
                os.close(fd)
        out.seek(0)
        err.seek(0)
        return code, out.read(), err.read()


def _serve() -> None:
    # Imported now, while the test does other things, rather than at the first command.
    import usina.cli.main
    import usina.client  # noqa: F401

    requests = os.fdopen(os.dup(0), encoding="utf-8")
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    with open(os.devnull) as nothing:  # between commands, nothing is there to read
        os.dup2(nothing.fileno(), 0)
    for line in requests:
        request = json.loads(line)
        code, out, err = _run_one(request["args"], request["stdin"])
        answer = {"code": code, "stdout": out.decode(), "stderr": err.decode()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    # Each command has ended as a process would; skip tearing down the interpreter's modules,
    # which takes a second for all usina imports and checks nothing.
    os._exit(0)


class CliSession:
    """A process that runs ``usina`` commands in turn, with the environment ``env``.

    ``run(*args, stdin="")`` returns a ``subprocess.CompletedProcess`` with the command's exit
    status and its stdout and stderr as text (``stdin`` is what the command reads); ``close()`` ends the process (also on ``with`` exit).
    One session serves one thread at a time.
    """

    def __init__(self, env: Mapping[str, str], cwd: Path, timeout: float = 120) -> None:
        self.timeout = timeout
        self._process = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=dict(env),
            cwd=cwd,
            text=True,
        )

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        requests, stdout = self._pipes()
        requests.write(json.dumps({"args": list(args), "stdin": stdin}) + "\n")
        requests.flush()
        # A command that hangs past the timeout gets its session killed, ending the read.
        watchdog = threading.Timer(self.timeout, self._process.kill)
        watchdog.start()
        try:
            line = stdout.readline()
        finally:
            watchdog.cancel()
        if not line:
            code = self._process.wait(self.timeout)
            raise RuntimeError(
                f"the usina session ended ({code}) running usina {' '.join(args)}; "
                f"killed after {self.timeout:g} s if it was still running"
            )
        answer: dict[str, Any] = json.loads(line)
        return subprocess.CompletedProcess(
            ["usina", *args], answer["code"], answer["stdout"], answer["stderr"]
        )

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self._process.stdin is not None and self._process.stdout is not None
        return self._process.stdin, self._process.stdout

    def close(self) -> None:
        """End the session: it exits when its stdin closes; killed by pid if it does not."""
        stdin, stdout = self._pipes()
        if not stdin.closed:
            stdin.close()
        try:
            self._process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        stdout.close()

    def __enter__(self) -> CliSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    _serve()
