"""Warm trial starts: a per-sweep launcher that imports the environment once and forks each trial.

Why: a trial of the example script spends 2-5 s importing scikit-learn, NumPy and MLflow on a busy
2-core machine and about 1 s fitting; early termination cannot save what every process pays before
its first step. The launcher is one Python process per sweep that imports those modules once; each
trial is then ``fork()`` ed from it, so it starts with them already in memory (copy-on-write) and
reaches its first report in a fraction of a second.

What stays as it was: each trial is still its own process in its own session (process group), so a
crash, a timeout, a prune (STOP file + SIGTERM to the group) or a spot eviction (a SIGTERM the sweep
did not send) touches only that trial, and its exit code reads as a subprocess' does (negative: the
signal that killed it). Only commands of the form ``python script.py ...`` or ``python -m module
...`` (``python`` = the interpreter running ``ml``, see `command_argv`) are forked; anything else
(a shell pipeline, another interpreter, a binary) falls back to a plain process.

What a forked trial differs in, and how it is made not to: it gets the trial's environment, working
directory, ``sys.argv`` and ``sys.path[0]`` as ``python script.py`` would set them; its stdout and
stderr go to its log; ``random`` reseeds itself after a fork (Python does that) and NumPy's global
generator is reseeded here, so trials do not share one random stream; ``atexit`` handlers run before
it exits (MLflow ends its run there). Interpreter start-up settings (``PYTHONHASHSEED``, ``-X``
options, a different ``PYTHONPATH``) are the launcher's, which are the sweep's.

Protocol (JSON lines): the sweep writes ``{"key", "argv", "cwd", "env", "log"}`` on the launcher's
stdin; the launcher answers ``{"key", "pid"}`` once forked and ``{"key", "code"}`` once reaped. This
module is standard library only: it is what the launcher process imports before the preload.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

LAUNCHER_MODULE = "ml.sweep.backends._warm_launcher"
ALWAYS_PRELOAD = ("ml.sweep.trial",)
TRIAL_END_PRELOAD = "ml.sweep._trial_end"  # what `trial.log_model` imports at a trial's end, with MLflow
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


# --- no trial outlives its sweep ----------------------------------------------------------------


@functools.cache
def _prctl() -> Any:
    """libc's ``prctl`` (Linux), or None; resolved before any fork so a child only calls it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def die_with_parent(parent: int, signum: int = signal.SIGKILL) -> None:
    """In a child: be SIGKILLed when ``parent`` (the process that started it) dies, however it dies.

    Why: each trial runs in its own session so the sweep can stop it as a group, which also means
    nothing stops it when the sweep itself is SIGKILLed (OOM killer, ``kill -9``, a CI timeout):
    it would run, and bill, on. Linux's parent-death signal closes that: the launcher dies with
    the sweep and each trial with the process that started it (the sweep or the launcher). A
    parent that died before the signal was armed is caught by comparing ``getppid``.
    """
    prctl = _prctl()
    if prctl is None:
        return
    prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)
    if os.getppid() != parent:
        os.kill(os.getpid(), signum)


def parent_death_hook(signum: int = signal.SIGKILL) -> Any:
    """A ``preexec_fn`` for `subprocess.Popen` that arms `die_with_parent` for the calling process."""
    _prctl()
    parent = os.getpid()
    return lambda: die_with_parent(parent, signum)


def _become_subreaper() -> None:
    """In the launcher: orphans of its trials (a dead trial's data loader) become its children, not init's."""
    prctl = _prctl()
    if prctl is not None:
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def kill_trial_trees(groups: Iterable[int]) -> int:
    """SIGKILL every descendant of this process and every process in the trials' groups; how many.

    Why a scan of ``/proc`` and not ``killpg`` alone: a trial's child may have started a session of
    its own (it left the group but is still a descendant), and a group whose processes have all
    gone may have its number reused by an unrelated process (only live members are killed).
    """
    wanted, me = set(groups), os.getpid()
    if not Path("/proc").is_dir():  # not Linux: the trials' groups only
        for group in wanted:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
        return len(wanted)
    parents: dict[int, int] = {}
    members: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
            if int(fields[2]) in wanted:
                members.add(int(entry.name))
    found: set[int] = set()
    frontier = {me}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    killed = 0
    for pid in (found | members) - {me}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            killed += 1
    return killed


# --- the sweep's side ---------------------------------------------------------------------------


def warm_target(argv: list[str], cwd: Path) -> list[str] | None:
    """The ``[script.py | -m module, args...]`` part when ``argv`` can be forked from the launcher, else None."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return None
    if argv[1] == "-m" and len(argv) >= 3:
        return argv[1:]
    script = argv[1]
    if script.startswith("-") or not script.endswith(".py") or not (cwd / script).is_file():
        return None
    return argv[1:]


class WarmLauncher:
    """The launcher process of one sweep, and the pids and exit codes of the trials it forked."""

    def __init__(
        self, requirements: Iterable[str] | None, script: Path | None, *, cwd: Path, log: Path, warm: bool = True
    ) -> None:
        """Start the launcher; when ``warm`` it works out what to preload (`preload_for`) and imports it.

        Not warm, it preloads nothing and only ``exec`` s trials (`launch` with ``run_exec``): the
        sweep still gets a process that outlives it long enough to kill every trial's process group.
        """
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("ab")
        self.warm = warm
        plan = {"requirements": list(requirements or ()), "script": str(script) if script else None, "warm": warm}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", LAUNCHER_MODULE, json.dumps(plan)],
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=parent_death_hook(signal.SIGTERM),  # the sweep's death: kill every trial's group, then exit
        )
        self._lock = threading.Condition()
        self._pids: dict[str, int] = {}
        self._codes: dict[str, int] = {}
        self._reader = threading.Thread(target=self._read, name="warm-launcher-reader", daemon=True)
        self._reader.start()

    def alive(self) -> bool:
        return self._proc.poll() is None

    def launch(
        self, key: str, argv: list[str], *, cwd: Path, env: Mapping[str, str], log: Path, run_exec: bool = False
    ) -> None:
        """Ask for a fork (that ``exec`` s ``argv`` when ``run_exec``); pid and exit code arrive later."""
        assert self._proc.stdin is not None
        request = {"key": key, "argv": argv, "cwd": str(cwd), "env": dict(env), "log": str(log), "exec": run_exec}
        self._proc.stdin.write((json.dumps(request) + "\n").encode())
        self._proc.stdin.flush()

    def pid(self, key: str, *, wait: float = 0.0) -> int | None:
        deadline = time.monotonic() + wait
        with self._lock:
            while key not in self._pids and key not in self._codes and self.alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._lock.wait(left)
            return self._pids.get(key)

    def exit_code(self, key: str) -> int | None:
        """The trial's exit code once reaped; -SIGKILL when the launcher itself died before reporting it."""
        with self._lock:
            if key in self._codes:
                return self._codes[key]
        if not self.alive() and not self._reader.is_alive():
            return -signal.SIGKILL
        return None

    def close(self) -> None:
        """End the launcher (its trials have been stopped by then)."""
        with contextlib.suppress(OSError):
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        self._log.close()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            with self._lock:
                if "pid" in message:
                    self._pids[message["key"]] = int(message["pid"])
                if "code" in message:
                    self._codes[message["key"]] = int(message["code"])
                self._lock.notify_all()
        with self._lock:
            self._lock.notify_all()


def preload_for(requirements: Iterable[str] | None, script: Path | None) -> list[str]:
    """The modules to import in the launcher: those of the environment's distributions the script imports.

    Every top-level module of a distribution the spec's environment names (``scikit-learn`` ->
    ``sklearn``), and each module the script imports at its top whose package is one of those (or
    ``ml``); the script's own local modules are left alone (importing them runs user code).
    """
    import ast
    from importlib.metadata import packages_distributions

    wanted = {_normal(line) for line in requirements or ()}
    provided = packages_distributions()
    tops = {top for top, dists in provided.items() if any(_normal(d) in wanted for d in dists)}
    tops.discard("tests")
    modules = sorted(top for top in tops if not top.startswith("_"))
    if "mlflow" in tops:
        modules.append(TRIAL_END_PRELOAD)
    if script is not None and script.is_file():
        try:
            tree = ast.parse(script.read_text())
        except (SyntaxError, UnicodeDecodeError, OSError):
            return modules
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            modules += [name for name in names if name.split(".")[0] in tops | {"ml"} and name not in modules]
    return modules


def _normal(requirement: str) -> str:
    name = requirement.strip()
    for separator in ("[", "=", "<", ">", "!", "~", ";", " ", "@"):
        name = name.split(separator, 1)[0]
    return name.lower().replace("_", "-").replace(".", "-")


# --- the launcher process -----------------------------------------------------------------------


def _preload(plan: dict[str, Any]) -> None:
    import importlib

    started = time.perf_counter()
    script = Path(plan["script"]) if plan.get("script") else None
    modules = list(dict.fromkeys([*ALWAYS_PRELOAD, *preload_for(plan.get("requirements"), script)]))
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the trial will meet (and report) the same error itself
            print(f"warm launcher: could not preload {name}: {exc!r}", file=sys.stderr)
    print(f"warm launcher: preloaded {len(modules)} modules in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    sys.stderr.flush()


def _run_trial(request: dict[str, Any]) -> None:
    """In the forked child: become the trial, run its script, exit with its code. Never returns."""
    code = 1
    try:
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_DFL)
        die_with_parent(request["launcher"])
        signal.set_wakeup_fd(-1)
        os.setsid()  # its own process group: a stop, and the sweep's death, reach whatever it starts
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        os.close(null)
        sys.stdout = open(1, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        sys.stderr = open(2, "w", buffering=1, closefd=False, errors="backslashreplace")  # noqa: SIM115
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("exec"):
            try:
                os.execvpe(request["argv"][0], request["argv"], request["env"])  # noqa: S606 (argv, like Popen)
            except OSError as exc:
                print(f"cannot start {request['argv'][0]}: {exc}", file=sys.stderr)
                code = 127
                return
        if "numpy" in sys.modules:
            sys.modules["numpy"].random.seed()  # a fresh process would not share the launcher's stream
        code = _run_main(list(request["argv"]), request["cwd"])
    except BaseException:  # a failure before the script ran must still end this child
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _run_main(argv: list[str], cwd: str) -> int:
    """Run ``script.py args`` or ``-m module args`` as ``__main__``; the exit code Python would give."""
    import atexit
    import runpy
    import traceback

    code = 0
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            sys.path[0] = cwd
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            script = Path(argv[0]).resolve()
            sys.argv = [argv[0], *argv[1:]]
            sys.path[0] = str(script.parent)
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
        code = 1
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    return code


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


_CHILDREN: dict[int, str] = {}
"""The launcher's live trials (pid = process group) by key."""


def _on_sweep_death(signum: int, frame: object) -> None:
    """The sweep died (parent-death SIGTERM): every trial, and all they started, dies with it."""
    kill_trial_trees(_CHILDREN)
    os._exit(128 + signum)


def _serve(plan: dict[str, Any]) -> None:
    _become_subreaper()
    if plan.get("warm", True):
        _preload(plan)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    stdin = sys.stdin.fileno()
    out: IO[str] = sys.stdout
    children = _CHILDREN
    buffer = b""
    open_input = True
    while open_input or children:
        readable, _, _ = select.select([stdin, wake_r] if open_input else [wake_r], [], [], 1.0)
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        if stdin in readable:
            chunk = os.read(stdin, 65536)
            if not chunk:  # the sweep is done (its trials stopped): nothing they started outlives it
                open_input = False
                kill_trial_trees(children)
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.strip():
                    request = {**json.loads(line), "launcher": os.getpid()}
                    out.flush()
                    pid = os.fork()
                    if pid == 0:
                        os.close(wake_r)
                        os.close(wake_w)
                        _run_trial(request)
                    children[pid] = request["key"]
                    out.write(json.dumps({"key": request["key"], "pid": pid}) + "\n")
                    out.flush()
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            key = children.pop(pid, None)
            if key is not None:
                out.write(json.dumps({"key": key, "code": os.waitstatus_to_exitcode(status)}) + "\n")
                out.flush()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the sweep, which stops the trials
    signal.signal(signal.SIGTERM, _on_sweep_death)
    _serve(json.loads(sys.argv[1]))
