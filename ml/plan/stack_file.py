"""Read a stack's `Pulumi.<stack>.yaml` the way the Pulumi CLI would hand it to the program.

Why not `pulumi config`: the offline plan and the tests must work with no CLI. Encrypted values
(`secure:`) cannot be decrypted offline; they are passed as a placeholder and marked secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ml.contract.errors import UserError

SECRET_PLACEHOLDER = "[secret]"  # noqa: S105 - a display marker, not a credential


@dataclass(frozen=True)
class StackConfig:
    """One stack's config: project name, stack name and the namespaced keys (`mlops:cloud`, ...)."""

    project: str
    stack: str
    values: dict[str, Any]
    source: Path
    secret_keys: frozenset[str] = field(default_factory=frozenset)

    def namespace(self, prefix: str) -> dict[str, Any]:
        """The keys of one namespace without the prefix (`mlops:cloud` -> `cloud`)."""
        return {k.split(":", 1)[1]: v for k, v in self.values.items() if k.startswith(f"{prefix}:")}


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding Pulumi.yaml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "Pulumi.yaml").is_file():
            return candidate
    raise UserError(
        f"no Pulumi.yaml in {here} or its parents. Run `ml plan` inside the project, or pass --project-dir."
    )


def _load_yaml(text: str, source: str) -> Any:
    """The document's data; a key written twice in one mapping is refused with its line.

    Why: PyYAML keeps the last of two equal keys silently (two ``blue:`` colours, two
    ``mlops:budget:`` sections), where the Pulumi CLI refuses the file; the offline plan and
    preflight must not read a different config from the one `pulumi up` would reject.
    """
    from ml.contract.validation import YamlDocument

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise UserError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if isinstance(data, dict):
        # Plain-text secrets are refused by the program's own check, with the `pulumi config set --secret` to run.
        document = YamlDocument(
            text, kind="stack file", source=source, expected="config:", secret_advice=None, unique_names=False
        )
        if document.problems:
            raise document.error(document.problems)
    return data


def available_stacks(project_dir: Path) -> list[str]:
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in project_dir.glob("Pulumi.*.yaml"))


def read_stack_config(project_dir: Path, stack: str) -> StackConfig:
    """Load `Pulumi.yaml` (project name) and `Pulumi.<stack>.yaml` (config) from `project_dir`."""
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = ", ".join(available_stacks(project_dir)) or "none"
        raise UserError(f"stack '{stack}' has no {path.name} in {project_dir}; stacks here: {known}.")
    return parse_stack_config(project_dir, stack, path.read_text(), source=path)


def parse_stack_config(project_dir: Path, stack: str, text: str, *, source: Path) -> StackConfig:
    """A stack file's text as config; ``source`` names where it came from (a path, or ``REF:path``)."""
    project_file = project_dir / "Pulumi.yaml"
    project = _load_yaml(project_file.read_text(), str(project_file)) or {}
    document = _load_yaml(text, str(source)) or {}
    raw = document.get("config", {}) if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping under 'config:'.")
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in raw.items():
        if ":" not in str(key):
            raise UserError(f"{source}: config key '{key}' needs a namespace, e.g. 'mlops:{key}'.")
        if isinstance(value, dict) and set(value) == {"secure"}:
            secrets.add(key)
            value = SECRET_PLACEHOLDER
        values[str(key)] = value
    return StackConfig(
        project=str(project.get("name", "mlops")),
        stack=stack,
        values=values,
        source=source,
        secret_keys=frozenset(secrets),
    )
