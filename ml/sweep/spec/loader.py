"""Reading a sweep spec: YAML text or a file in, one validated `SweepSpec` or one `SpecError` out.

Why one entry point: every problem (schema, cross-section rules, missing paths) is collected and
reported at once with its key path and YAML line, through the contract's one pydantic/YAML error
translator, so the messages read the same as every other spec's in the platform.
"""

from __future__ import annotations

from pathlib import Path

from ml.contract.errors import UserError
from ml.contract.validation import YamlDocument, validate_document
from ml.sweep.spec.checks import cross_checks
from ml.sweep.spec.early_termination import POLICY_NAMES
from ml.sweep.spec.model import SweepSpec
from ml.sweep.spec.search_space import PARAMETER_TYPES


class SpecError(UserError):
    """The sweep spec is malformed; the message lists every problem with its key path and line."""


def parse_spec(
    text: str, *, source: str = "<string>", base_dir: Path | None = None, check_paths: bool = False
) -> SweepSpec:
    """Parse and validate a sweep spec from YAML text; every problem is reported at once with its line.

    ``base_dir`` is where relative paths resolve (the spec file's directory); ``check_paths`` also
    verifies that the code directory and requirements file exist.
    """
    document = YamlDocument(
        text,
        kind="sweep spec",
        source=source,
        expected="name, command, search_space, objective, sampling, limits",
        error_type=SpecError,
    )
    spec: SweepSpec = validate_document(
        document, SweepSpec, tag_choices={"type": PARAMETER_TYPES, "policy": POLICY_NAMES}
    )
    spec._base_dir = (base_dir or Path.cwd()).resolve()
    spec._source = source
    problems = list(cross_checks(spec, check_paths=check_paths))
    if problems:
        raise document.error(problems)
    return spec


def load_spec(path: Path) -> SweepSpec:
    """Read a sweep spec file; relative paths in it resolve against the file's directory."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SpecError(f"sweep spec {path} does not exist; pass the path of a YAML file (sweeps/x.yaml)") from None
    except IsADirectoryError:
        raise SpecError(f"sweep spec {path} is a directory; pass the path of a YAML file") from None
    return parse_spec(text, source=str(path), base_dir=path.parent, check_paths=True)
