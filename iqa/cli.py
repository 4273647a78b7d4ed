"""How `run.py` ends: a user-caused error is one line on stderr and exit status 1, Ctrl-C one line
and status 130, a bug keeps its traceback.

Hydra reports an exception in several lines (and some, such as an output folder it cannot
create, with a traceback), so the entry point asks Hydra to pass exceptions through and turns
the ones a user can cause into a single line here.
"""
from __future__ import annotations

import errno
import logging
import os
import sys
from typing import Callable, List, Optional

import yaml
from hydra.errors import CompactHydraException
from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

from iqa.errors import IQAError


def _chain(exc: BaseException) -> List[BaseException]:
    seen: List[BaseException] = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def _squash(text: str) -> str:
    return " ".join(text.split())


def user_error_line(exc: BaseException) -> Optional[str]:
    """The one-line message for an error the user caused, or None when it is a bug."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, IQAError):
            return str(e)
    for e in chain:
        if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:  # a config file of the user's
            mark = e.problem_mark
            return _squash(f"{mark.name} is not valid YAML: {e.context or ''} {e.problem} "
                           f"(line {mark.line + 1}, column {mark.column + 1})")
        if isinstance(e, (InterpolationResolutionError, MissingMandatoryValue)):  # `key=${nope}`, `key=???`
            return f"{e.full_key}: " + str(e).splitlines()[0] if e.full_key else str(e).splitlines()[0]
    if isinstance(exc, CompactHydraException):  # a bad override or config group
        cause = exc.__cause__
        message = str(exc).split("Config search path")[0]  # a missing config lists the whole path
        return _squash(message + (f" ({str(cause).splitlines()[0]})" if cause else ""))
    return file_error_line(exc)


def file_error_line(exc: BaseException) -> Optional[str]:
    """The one line for an operating-system error naming a file (no permission, not a folder, disk
    full), or None."""
    hint = "check the path and the free space; run folders: hydra.run.dir / hydra.sweep.dir, image cache: data.cache_dir"
    for e in _chain(exc):
        if isinstance(e, OSError) and e.filename:
            return f"cannot write or read {e.filename}: {e.strerror} ({hint})"
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):  # a full disk names no file
            return f"cannot write: {e.strerror} ({hint})"
    return None


def log_to_files_only(logger: logging.Logger, message: str) -> None:
    """An error in the run's log files (run.log) but not on the console, where the run's one
    `error:` line says it already."""
    record = logger.makeRecord(logger.name, logging.ERROR, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


INTERRUPTED = ("interrupted: a run continues from its last checkpoint with trainer.resume=true; "
               "a sweep continues its study when the same command runs again")
NOTHING_TO_RESUME = ("interrupted before the run saved its first checkpoint (checkpoints/last.pt): there is "
                     "nothing to resume, run the same command again without trainer.resume")


def exit_status(command: Callable[[], object]) -> int:
    """Run a `python -m iqa.<tool>` command: status 0, or one `error:` line and status 1 when the
    user's input is at fault (an IQAError, or a file that cannot be written or read)."""
    try:
        command()
    except IQAError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        line = file_error_line(e)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1
    return 0


def main_with_one_line_errors(entry: Callable[[], object]) -> int:
    """Call a Hydra entry point and return the process exit status.

    With HYDRA_FULL_ERROR=1 already set, everything keeps its full traceback.
    """
    if os.environ.get("HYDRA_FULL_ERROR") == "1":
        entry()
        return 0
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        entry()
    except KeyboardInterrupt as e:  # run.py says when there is nothing to resume
        print(str(e) if str(e) == NOTHING_TO_RESUME else INTERRUPTED, file=sys.stderr, flush=True)
        return 130
    except Exception as e:
        line = user_error_line(e)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr, flush=True)
        return 1
    return 0
