"""Where log lines go: `ml` prints its own lines; libraries write to a log file under the platform home.

Why one module, called once from the CLI's callback: MLflow attaches its own stderr handler when it
is imported and prints run links to stdout, SQLAlchemy/alembic, Optuna, urllib3 and the cloud SDKs
log at INFO/WARNING, and Python warnings print where they fire. A user read ~37 such lines in
`make demo` between the lines `ml` wrote for them. Here every library record (and every Python
warning) goes to ``<platform home>/logs/ml.log``; ``ml --verbose`` shows them on stderr as well.
The environment variables are set before MLflow is imported, so trial processes inherit them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from ml.stack import local_home

LIBRARIES = (
    "mlflow",
    "alembic",
    "sqlalchemy",
    "huey",
    "urllib3",
    "optuna",
    "azure",
    "botocore",
    "boto3",
    "sagemaker",
    "git",
    "httpx",
    "py.warnings",
)
"""Loggers whose own handlers are removed so their records reach the root logger (and the file) only."""

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_file() -> Path:
    """The file library log lines go to."""
    return local_home() / "logs" / "ml.log"


class _LazyFileHandler(logging.FileHandler):
    """Opens (and creates the directory of) the log file only when a record arrives: `ml --help` writes nothing."""

    def _open(self):  # type: ignore[no-untyped-def]  # FileHandler._open is untyped in typeshed's sense
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


def configure(*, verbose: bool = False) -> Path:
    """Route library logging to `log_file()` (and stderr when ``verbose``); idempotent. Returns the file."""
    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")  # MLflow keeps its stderr handler off on import
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # no "View run ... at ..." lines
    path = log_file()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_ml_setup", False):
            root.removeHandler(handler)
            handler.close()
    file_handler = _LazyFileHandler(path, delay=True)
    file_handler.setFormatter(logging.Formatter(_FORMAT))
    handlers: list[logging.Handler] = [file_handler]
    if verbose:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter(_FORMAT))
        handlers.append(stream)
    for handler in handlers:
        handler._ml_setup = True  # type: ignore[attr-defined]  # marks our handlers for the next call
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in LIBRARIES:
        library = logging.getLogger(name)
        library.handlers = []  # MLflow's own stderr handler, if it was imported already
        library.propagate = True
        if name in ("sqlalchemy", "urllib3"):
            library.setLevel(logging.WARNING)
        else:
            library.setLevel(logging.NOTSET)
    logging.captureWarnings(True)
    return path


class _LinesToLog:
    """A text stream whose complete lines become records of ``logger`` (what `library_prints` swaps in).

    A handler that itself writes to whatever ``sys.stderr`` is (MLflow's own, when `configure` has not
    removed it) would come back here: while a record is emitted, text goes to the real stderr instead.
    """

    def __init__(self, logger: logging.Logger, original: TextIO) -> None:
        self.logger = logger
        self.original = original
        self.pending = ""
        self.emitting = False

    def write(self, text: str) -> int:
        if self.emitting:
            return self.original.write(text)
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self._emit(line)
        return len(text)

    def flush(self) -> None:
        if not self.emitting:
            self._emit(self.pending)
            self.pending = ""

    def _emit(self, line: str) -> None:
        if not line.strip():
            return
        self.emitting = True
        try:
            self.logger.info(line)
        finally:
            self.emitting = False


@contextlib.contextmanager
def library_prints(library: str = "mlflow") -> Iterator[None]:
    """Send what a library *prints* to stderr (not logs) to the log file, for the duration of one call.

    Why: MLflow's model registry writes "Successfully registered model ...", "Created version ..."
    with ``print(file=sys.stderr)``, which no logging setup catches; `ml sweep best` and the demo put
    those lines between their own. Only wrap a library call: the command's own output goes on as usual.
    """
    stream = _LinesToLog(logging.getLogger(library), sys.stderr)
    with contextlib.redirect_stderr(stream):
        try:
            yield
        finally:
            stream.flush()
