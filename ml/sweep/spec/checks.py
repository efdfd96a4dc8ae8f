"""The checks that need several sections of a spec at once, as ``(key path, message)`` pairs.

Why separate from the models: a section validates itself; these rules read across sections
(placeholders against the search space and inputs, grid sampling against parameter types, the
limits against each other, paths against the disk) and every one is reported, not just the first.
What only one backend cannot run is that backend's ``check()``, not here.
"""

from __future__ import annotations

from collections.abc import Iterator

from ml.contract.validation import KeyPath
from ml.sweep.spec.model import SweepSpec
from ml.sweep.spec.placeholders import IDENTIFIER, PLACEHOLDER, REFERENCE
from ml.sweep.spec.search_space import DISCRETE_TYPES


def cross_checks(spec: SweepSpec, *, check_paths: bool) -> Iterator[tuple[KeyPath, str]]:
    for name in spec.search_space:
        if not IDENTIFIER.match(name):
            yield ("search_space", name), f"parameter name '{name}' must be an identifier (letters, digits, _)"
    for name in spec.inputs:
        if not IDENTIFIER.match(name):
            yield ("inputs", name), f"input name '{name}' must be an identifier (letters, digits, _)"

    used: set[tuple[str, str]] = set()
    for match in PLACEHOLDER.finditer(spec.command):
        reference = REFERENCE.match(match.group(1))
        if reference is None:
            yield (
                ("command",),
                (
                    f"placeholder '{match.group(0)}' is not understood; use ${{{{search_space.<param>}}}} "
                    f"or ${{{{inputs.<name>}}}}"
                ),
            )
            continue
        namespace, name = reference.groups()
        known = spec.search_space if namespace == "search_space" else spec.inputs
        if name not in known:
            allowed = ", ".join(sorted(known)) or "none defined"
            yield (
                ("command",),
                (f"placeholder '{match.group(0)}' names no {namespace} entry '{name}' (defined: {allowed})"),
            )
        used.add((namespace, name))
    for name in spec.search_space:
        if ("search_space", name) not in used:
            yield (
                ("search_space", name),
                (f"parameter '{name}' is never passed to the command; add ${{{{search_space.{name}}}}} to 'command'"),
            )

    if spec.sampling.algorithm == "grid":
        continuous = [n for n, p in spec.search_space.items() if not isinstance(p, DISCRETE_TYPES)]
        for name in continuous:
            kind = spec.search_space[name].type
            yield (
                ("search_space", name, "type"),
                (
                    f"grid sampling needs discrete parameters (choice, randint, quniform); '{name}' is {kind}. "
                    f"Use sampling: random or bayesian, or make it a choice"
                ),
            )
    elif spec.limits.max_total_trials is None:
        yield (
            ("limits", "max_total_trials"),
            (f"required for {spec.sampling.algorithm} sampling (only grid sampling can default to the grid size)"),
        )

    if spec.limits.timeout is not None and spec.limits.timeout < spec.limits.trial_timeout:
        yield (
            ("limits", "timeout"),
            (
                f"the sweep timeout ({spec.limits.timeout}s) is shorter than one trial's trial_timeout "
                f"({spec.limits.trial_timeout}s)"
            ),
        )
    if spec.limits.max_total_trials is not None and spec.limits.max_concurrent_trials > spec.limits.max_total_trials:
        yield (
            ("limits", "max_concurrent_trials"),
            (f"{spec.limits.max_concurrent_trials} exceeds max_total_trials ({spec.limits.max_total_trials})"),
        )
    if spec.spot.max_wait is not None and spec.spot.max_wait < spec.limits.trial_timeout:
        yield (
            ("spot", "max_wait"),
            (f"max_wait ({spec.spot.max_wait}s) must be at least limits.trial_timeout ({spec.limits.trial_timeout}s)"),
        )

    if check_paths:
        code = spec.code_dir()
        if not code.is_dir():
            yield ("code",), f"code directory {code} does not exist (resolved relative to {spec.base_dir})"
        elif spec.environment.requirements is not None and not (code / spec.environment.requirements).is_file():
            missing = code / spec.environment.requirements
            yield ("environment", "requirements"), f"requirements file {missing} does not exist"
