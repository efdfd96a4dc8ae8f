"""A SIGKILLed `ml sweep run` takes its trials, and what they started, with it: no process outlives the sweep.

Why a test of its own: each trial runs in its own session (so the sweep can stop it as a group),
so nothing stops it, or the data loader it started, when the sweep dies without a chance to clean
up (``kill -9``, the OOM killer, a CI timeout) unless the sweep's launcher does: on the parent-death
signal it kills every trial's group and every descendant. Checked for trials forked from the warm
launcher, trials ``exec`` ed cold, and a trial child that started a session of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ml.contract import PlatformOutputs

TRIALS = Path(__file__).parent / "trials"


def descendants(root: int) -> set[int]:
    """Every live process under ``root`` (by parent pid), whatever session it runs in."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper that never comes, in a container, counts as gone)."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("warm", "detach"), [("1", ""), ("0", ""), ("1", " --detach")])
def test_a_sigkilled_sweep_leaves_no_trial_or_grandchild_running(
    outputs: PlatformOutputs, tmp_path: Path, warm: str, detach: str
) -> None:
    """Each trial starts a sleeping child (in its group, or ``--detach``ed in a session of its own)."""
    name = f"orphans-{warm}{detach.strip(' -')}"
    spec = tmp_path / "orphans.yaml"
    spec.write_text(
        f"""
name: {name}
experiment: toy
code: {TRIALS}
command: python spawning_trial.py --quality ${{{{search_space.quality}}}}{detach}
environment: {{pip: []}}
search_space: {{quality: {{type: choice, values: [0.4, 0.6]}}}}
objective: {{metric: score, goal: maximize}}
sampling: grid
limits: {{max_concurrent_trials: 2, trial_timeout: 5m}}
"""
    )
    sweep = subprocess.Popen(
        [sys.executable, "-c", "from ml.cli import main; main()", "sweep", "run", str(spec)],
        env={**os.environ, "NO_COLOR": "1", "ML_SWEEP_WARM_START": warm},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    checkpoints = Path(outputs.artifacts.uri.removeprefix("file://")) / "checkpoints"
    deadline = time.monotonic() + 120
    pid_files: list[Path] = []
    try:
        while len(pid_files) < 2 and time.monotonic() < deadline and sweep.poll() is None:
            time.sleep(0.2)
            pid_files = list(checkpoints.glob(f"{name}-*/trial-*/pids"))
        assert len(pid_files) == 2, "the two trials never started"
        time.sleep(0.1)  # the file is written in one call; let it land
        started = {int(pid) for path in pid_files for pid in path.read_text().split()}
        assert len(started) == 4  # two trials and their two children
        everything = descendants(sweep.pid)
        assert started <= everything
        assert len(everything) == 5  # the launcher (warm or exec-only), the two trials, their two children
    finally:
        sweep.kill()
        sweep.wait()
    killed = time.monotonic()
    deadline = killed + 5
    while (left := {pid for pid in everything if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    print(f"{name}: every trial and child gone {time.monotonic() - killed:.2f}s after kill -9 of the sweep")
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes {sorted(left)} outlived the SIGKILLed sweep"
