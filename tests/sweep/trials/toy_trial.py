"""A fast stand-in for a training script (standard library + ml.sweep.trial only).

It "trains" for ``--steps`` steps; its metric rises towards a quality that is ``--quality`` unless
``--quality-by-trial`` maps the trial number to one (so a test controls which trial is bad
regardless of the sampler). It checkpoints its step and a resume counter after each step, and can
crash (``--crash-trial``), evict itself once with SIGTERM (``--evict-trial``/``--evict-at``) or hang
(``--hang``) to exercise the sweep's handling of each.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

from ml.sweep import trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float, default=0.5)
    parser.add_argument("--quality-by-trial", default="")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--crash-trial", type=int, default=-1)
    parser.add_argument("--evict-trial", type=int, default=-1)
    parser.add_argument("--evict-at", type=int, default=3)
    parser.add_argument("--hang", action="store_true")
    args = parser.parse_args()

    number = int(os.environ.get("ML_TRIAL_NUMBER", "0"))
    qualities = [float(q) for q in args.quality_by_trial.split(",") if q]
    quality = qualities[number] if number < len(qualities) else args.quality

    checkpoint = trial.checkpoint_dir() / "state.json"
    state = {"step": 0, "resumes": 0, "resumed_from": 0}
    if checkpoint.exists():
        state = json.loads(checkpoint.read_text())
        state["resumes"] += 1
        state["resumed_from"] = state["step"]
    if args.hang:
        (trial.checkpoint_dir() / "pid").write_text(str(os.getpid()))
        time.sleep(3600)
    for step in range(state["step"] + 1, args.steps + 1):
        if trial.should_stop():
            return
        if number == args.crash_trial and step == 2:
            raise RuntimeError(f"toy trial {number} crashed at step {step}")
        time.sleep(args.sleep)
        state["step"] = step
        checkpoint.write_text(json.dumps(state))
        trial.report(
            step, score=quality * step / args.steps, resumes=state["resumes"], resumed_from=state["resumed_from"]
        )
        if number == args.evict_trial and step == args.evict_at and state["resumes"] == 0:
            os.kill(os.getpid(), signal.SIGTERM)  # the spot reclaim: default action, the process dies
            time.sleep(5)
    (trial.checkpoint_dir() / "finished").write_text(str(args.steps))


if __name__ == "__main__":
    main()
