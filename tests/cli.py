"""A command-line tool run inside the test process, answering as `subprocess.run(..., capture_output=True,
text=True)` would: its exit status and what it printed.

Starting `python -m analysis` as a process costs a second or more of imports (pandas, SciPy, statsmodels,
Matplotlib) before the tool does anything, and the tests run it dozens of times. One test still starts it
as a real process, for what only a process shows (the exit status `python -m` gives, no traceback); the
rest call its `main` here."""

from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass


@dataclass(frozen=True)
class Ran:
    """What the tool did, under the names `subprocess.CompletedProcess` uses."""

    returncode: int
    stdout: str
    stderr: str


def run_main(main: Callable[[list[str]], int | None], *args: str) -> Ran:
    """Calls `main(list(args))` with stdout and stderr captured. A `SystemExit` (argparse's usage errors,
    a tool that exits) gives its status, as the process would; any other exception propagates, so a crash
    fails the test with its traceback instead of showing up as exit status 1."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = _exit_status(exit_.code, err)
    return Ran(returncode=code or 0, stdout=out.getvalue(), stderr=err.getvalue())


def _exit_status(code: object, stderr: io.StringIO) -> int:
    """The status Python gives `sys.exit(code)`: an int as it is, None as 0, anything else printed and 1."""
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=stderr)
    return 1


def run_analysis(*args: str) -> Ran:
    """`python -m analysis ARGS`, in this process."""
    from analysis.cli import main

    return run_main(main, *args)
