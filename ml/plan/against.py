"""`ml plan --against REF_OR_STACK`: find the configuration a plan is compared with.

Why both: in a pull request the base is a git commit (the workflow passes `$BASE_SHA`), and when
promoting, the question is how `prod` differs from `dev`. A name with a `Pulumi.<name>.yaml` in
the project is a stack; anything else is a git ref, whose `Pulumi.<stack>.yaml` is read with
`git show REF:path` (no checkout) and planned with the *current* program, so the diff shows what
the config change does. A stack file absent at the ref means the whole stack is new.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ml.contract.errors import UserError
from ml.plan.stack_file import StackConfig, available_stacks, parse_stack_config, read_stack_config


@dataclass(frozen=True)
class BaseConfig:
    """What the plan is compared with: a label for the report and the config (None = nothing there)."""

    label: str
    config: StackConfig | None


def _git(git: str, directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([git, "-C", str(directory), *args], capture_output=True, text=True, check=False, timeout=60)


def resolve_base(project_dir: Path, stack: str, against: str) -> BaseConfig:
    """The stack named `against`, else `Pulumi.<stack>.yaml` at the git ref `against`."""
    if (project_dir / f"Pulumi.{against}.yaml").is_file():
        return BaseConfig(label=f"stack `{against}`", config=read_stack_config(project_dir, against))
    stacks = ", ".join(available_stacks(project_dir)) or "none"
    git = shutil.which("git")
    if git is None:
        raise UserError(
            f"--against '{against}': no Pulumi.{against}.yaml in {project_dir} (stacks: {stacks}), and git is "
            f"not installed to read it as a git ref."
        )
    top = _git(git, project_dir, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UserError(
            f"--against '{against}': not a stack here (stacks: {stacks}), and {project_dir} is not in a git "
            f"repository to read it as a ref."
        )
    commit = _git(git, project_dir, "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}")
    if commit.returncode != 0:
        raise UserError(
            f"--against '{against}' is neither a stack here (stacks: {stacks}) nor a commit in {top.stdout.strip()} "
            f"(in CI, fetch the base: actions/checkout with fetch-depth: 0)."
        )
    sha = commit.stdout.strip()
    label = f"`{against}`" if sha.startswith(against) else f"`{against}` ({sha[:7]})"
    path = (project_dir / f"Pulumi.{stack}.yaml").resolve().relative_to(Path(top.stdout.strip()).resolve())
    shown = _git(git, project_dir, "show", f"{sha}:{path.as_posix()}")
    if shown.returncode != 0:
        return BaseConfig(label=f"{label} (no {path.name} there)", config=None)
    where = Path(f"{against}:{path.as_posix()}")
    return BaseConfig(label=label, config=parse_stack_config(project_dir, stack, shown.stdout, source=where))
