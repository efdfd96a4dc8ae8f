"""A trial that starts a process of its own (as a data loader or a helper server would) and then hangs.

It writes its pid and its child's pid to its checkpoint directory (``pids``) so a test can check
that neither outlives the sweep. ``--detach`` starts the child in a session of its own (it leaves
the trial's process group, as a daemon would).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from ml.sweep import trial


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quality", type=float, default=0.5)
    parser.add_argument("--detach", action="store_true")
    args = parser.parse_args()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"], start_new_session=args.detach)
    trial.report(1, score=args.quality)
    (trial.checkpoint_dir() / "pids").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(3600)


if __name__ == "__main__":
    main()
