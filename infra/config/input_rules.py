"""Rules on the stack's input that no section can see alone: secrets in plain text, repeated list
entries, and sizes and regions the project does not know.

Why apart from the sections: a secret or a duplicate can hide in any value of any section (a
connection string in a tag, an e-mail listed twice), so they are checked on the raw `mlops:*`
values before pydantic reads them, with the key spelt as in the YAML. Sizes and regions are checked
against the one list per cloud in `ml.contract.cloud_facts` (the sizes the cost model prices), with
the closest known names suggested; `mlops:allowUnknownSizes` is the one way to accept a size the
list does not know yet.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ml.contract.cloud_facts import KNOWN_NODE_SIZES, KNOWN_REGIONS, KNOWN_SIZES, closest_names
from ml.contract.secrets import looks_secret

if TYPE_CHECKING:
    from infra.config.stack import StackSettings


def _walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}[{index}]")


def _set_command(path: str) -> str:
    if "." in path or "[" in path:
        return f"pulumi config set --secret --path 'mlops:{path}' <value>"
    return f"pulumi config set --secret mlops:{path} <value>"


def secret_problems(raw: Mapping[str, Any], secret_keys: Collection[str] = ()) -> list[str]:
    """Plain-text secrets in any value; keys set with `--secret` (secure in the YAML) are skipped."""
    problems = []
    for top, value in raw.items():
        if top in secret_keys:
            continue
        for path, node in _walk(value, top):
            if not isinstance(node, str) or not node:
                continue
            found = looks_secret(node, re.split(r"[.\[]", path)[-1])
            if found is not None:
                problems.append(
                    f"mlops:{path} holds {found} in plain text; store it encrypted instead: {_set_command(path)}"
                )
    return problems


def duplicate_problems(raw: Mapping[str, Any]) -> list[str]:
    """Lists that name the same entry twice (subnets, e-mails, colours, prefixes, thresholds, ...)."""
    problems = []
    for top, value in raw.items():
        for path, node in _walk(value, top):
            if not isinstance(node, list):
                continue
            seen: dict[str, Any] = {}
            repeated = []
            for item in node:
                key = json.dumps(item, sort_keys=True, default=str)
                if key in seen and item not in repeated:
                    repeated.append(item)
                seen[key] = item
            if repeated:
                shown = ", ".join(json.dumps(r, default=str) for r in repeated)
                problems.append(f"mlops:{path} lists {shown} more than once; each entry must be unique")
    return problems


def _suggest(name: str, known: Collection[str]) -> str:
    close = closest_names(name, known)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _sizes(stack: StackSettings) -> list[tuple[str, str, frozenset[str]]]:
    """Every size the stack uses: (key as in the YAML, size, the sizes the project knows for that key)."""
    cloud, cluster = stack.cloud, stack.training_cluster
    known = KNOWN_SIZES[cloud]
    sizes = [("trainingCluster.instanceType", cluster.instance_type, known)]
    if cluster.cpu_cluster is not None:
        sizes.append(("trainingCluster.cpuCluster.instanceType", cluster.cpu_cluster.instance_type, known))
    sizes.append(("endpoint.instanceType", stack.endpoint.instance_type, known))
    pool = stack.kubernetes.gpu_node_pool if stack.kubernetes is not None else None
    if pool is not None:
        sizes.append(("kubernetes.gpuNodePool.instanceType", pool.instance_type, KNOWN_NODE_SIZES[cloud]))
    return sizes


def size_and_region_problems(stack: StackSettings) -> list[str]:
    """Instance sizes (training, endpoint, Kubernetes node pool) and the region must be ones the project
    knows for the stack's cloud; `mlops:allowUnknownSizes` accepts a size the lists do not know yet."""
    cloud = stack.cloud
    allowed = set(stack.allow_unknown_sizes)
    sizes = _sizes(stack)
    problems = [
        f"mlops:{key} = {size!r} is not a size this project knows for cloud {cloud}{_suggest(size, known)} "
        f"(known: {', '.join(sorted(known))}); to use it anyway, list it in mlops:allowUnknownSizes "
        f"(it is then not priced by `ml plan`)"
        for key, size, known in sizes
        if size not in known and size not in allowed
    ]
    unknown_used = {size for _, size, known in sizes if size not in known}
    problems += [
        f"mlops:allowUnknownSizes lists {size!r}, which the stack does not use or the project already knows; remove it"
        for size in stack.allow_unknown_sizes
        if size not in unknown_used
    ]
    regions = KNOWN_REGIONS[cloud]
    if stack.location not in regions:
        problems.append(
            f"mlops:location = {stack.location!r} is not a region of cloud {cloud}{_suggest(stack.location, regions)}"
        )
    return problems
