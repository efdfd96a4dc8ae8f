"""Input that is never silently wrong: unknown keys, unknown sizes and regions, plain-text secrets,
repeated list entries, the network section's cloud rules, and misspelt spec sections."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.config import ConfigError, load_settings
from ml.contract.cloud_facts import KNOWN_NODE_SIZES, KNOWN_SIZES
from ml.contract.errors import UserError
from ml.cost.hosting import known_ec2_types
from ml.cost.prices import known_instance_types
from ml.plan.offline import PlannedResource, run_offline
from tests.infra.helpers import PROJECT_DIR, stack_config, with_changes
from tests.infra.kubernetes.k8s_helpers import eks_config, kubernetes_section


def _message(stack: str, changes: dict[str, Any], *, secret_keys: tuple[str, ...] = ()) -> str:
    config = with_changes(stack_config(stack), changes)
    with pytest.raises(ConfigError) as caught:
        load_settings(config.namespace("mlops"), source=f"Pulumi.{stack}.yaml", secret_keys=secret_keys)
    return str(caught.value)


def test_misspelt_top_level_section_fails_the_program_with_the_closest_name() -> None:
    """Through `pulumi.Config` (the path `pulumi up` takes): every `mlops:` key is read, not only known ones."""
    config = with_changes(stack_config("prod"), {"bugdet": {"amount": 10}})
    registered: dict[str, PlannedResource] = {}
    with pytest.raises(ConfigError) as caught:
        run_offline(config, record_into=registered)
    assert "mlops:bugdet is not a known setting (typo?); did you mean mlops:budget?" in str(caught.value)
    assert registered == {}


def test_misspelt_top_level_key_is_refused_offline_too() -> None:
    message = _message("dev", {"protectStatefulResource": False})
    assert (
        "mlops:protectStatefulResource is not a known setting (typo?); did you mean mlops:protectStatefulResources?"
        in message
    )


SIZES: list[tuple[str, dict[str, Any], str]] = [
    (
        "dev",
        {"trainingCluster.instanceType": "Standard_NC4as_T4_v2"},
        "mlops:trainingCluster.instanceType = 'Standard_NC4as_T4_v2' is not a size this project knows for cloud "
        "azure; did you mean 'Standard_NC4as_T4_v3'",
    ),
    (
        "dev-aws",
        {"endpoint.instanceType": "ml.m5.2xlarge"},
        "mlops:endpoint.instanceType = 'ml.m5.2xlarge' is not a size this project knows for cloud aws; did you mean "
        "'ml.m5.xlarge'",
    ),
    (
        "dev",
        {"location": "westeurop"},
        "mlops:location = 'westeurop' is not a region of cloud azure; did you mean 'westeurope'",
    ),
    ("dev-aws", {"location": "eu-west-9"}, "mlops:location = 'eu-west-9' is not a region of cloud aws; did you mean"),
    (
        "dev",
        {"allowUnknownSizes": ["Standard_DS3_v2"]},
        "mlops:allowUnknownSizes lists 'Standard_DS3_v2', which the stack does not use or the project already knows",
    ),
]


@pytest.mark.parametrize(("stack", "changes", "expected"), SIZES, ids=[next(iter(c)) for _, c, _ in SIZES])
def test_unknown_sizes_and_regions_name_the_closest(stack: str, changes: dict[str, Any], expected: str) -> None:
    assert expected in _message(stack, changes)


def test_allow_unknown_sizes_is_the_one_way_to_use_a_new_size() -> None:
    size = "Standard_NC4as_T4_v2"
    config = with_changes(stack_config("dev"), {"trainingCluster.instanceType": size, "allowUnknownSizes": [size]})
    settings = load_settings(config.namespace("mlops"), source="dev")
    assert settings.training_cluster.instance_type == size


def test_known_sizes_are_exactly_the_priced_ones() -> None:
    """One list per cloud: every size the config accepts has a price, and every priced size is accepted."""
    for cloud, sizes in KNOWN_SIZES.items():
        assert sizes == set(known_instance_types(cloud)), cloud  # type: ignore[arg-type]


def _pool_size_message(config_name: str, size: str, allow: list[str] | None = None) -> str | None:
    """Load a stack whose Kubernetes GPU pool uses ``size``; the error message, or None when it loads."""
    base = eks_config() if config_name == "eks" else stack_config("dev-k8s")
    section = kubernetes_section(base)
    section["gpuNodePool"]["instanceType"] = size
    changes: dict[str, Any] = {"kubernetes": section}
    if allow is not None:
        changes["allowUnknownSizes"] = allow
    config = with_changes(base, changes)
    try:
        load_settings(config.namespace("mlops"), source=f"Pulumi.{config.stack}.yaml")
    except ConfigError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(
    ("config_name", "size", "expected"),
    [
        (
            "aks",
            "Standard_NC4as_T4_v2",
            "mlops:kubernetes.gpuNodePool.instanceType = 'Standard_NC4as_T4_v2' is not a size this project knows "
            "for cloud azure; did you mean 'Standard_NC4as_T4_v3'",
        ),
        (
            "eks",
            "g5.4xlarge",
            "mlops:kubernetes.gpuNodePool.instanceType = 'g5.4xlarge' is not a size this project knows for cloud "
            "aws; did you mean 'g5.xlarge' or 'g5.2xlarge'",
        ),
    ],
)
def test_node_pool_sizes_are_checked_with_the_closest_name(config_name: str, size: str, expected: str) -> None:
    message = _pool_size_message(config_name, size)
    assert message is not None and expected in message
    assert "to use it anyway, list it in mlops:allowUnknownSizes" in message


@pytest.mark.parametrize(("config_name", "size"), [("aks", "Standard_NC4as_T4_v2"), ("eks", "g5.4xlarge")])
def test_allow_unknown_sizes_accepts_a_node_pool_size(config_name: str, size: str) -> None:
    assert _pool_size_message(config_name, size, allow=[size]) is None
    # Listed but known (the committed pool's size): refused as a stale escape hatch.
    known = "Standard_NC4as_T4_v3" if config_name == "aks" else "g5.xlarge"
    stale = _pool_size_message(config_name, known, allow=[known])
    assert stale is not None and f"mlops:allowUnknownSizes lists {known!r}" in stale


def test_known_node_sizes_are_exactly_the_priced_ones() -> None:
    """AKS pools: the Azure VM sizes; EKS node groups: the EC2 types the cost model prices."""
    assert KNOWN_NODE_SIZES["azure"] == set(known_instance_types("azure"))
    assert KNOWN_NODE_SIZES["aws"] == set(known_ec2_types())


SECRETS: list[tuple[dict[str, Any], str]] = [
    (
        {"tags.conn": "DefaultEndpointsProtocol=https;AccountName=mlopsdevst;AccountKey=c2VjcmV0==;"},
        "mlops:tags.conn holds a storage connection string in plain text; store it encrypted instead: "
        "pulumi config set --secret --path 'mlops:tags.conn' <value>",
    ),
    (
        {"tags.link": "https://mlopsdevst.blob.core.windows.net/mlops?sv=2024-05-04&se=2027-01-01&sig=abc%3D"},
        "mlops:tags.link holds a SAS token in plain text",
    ),
    ({"tags.owner": "AKIAABCDEFGHIJKLMNOP"}, "mlops:tags.owner holds an AWS access key id in plain text"),
    ({"tags.dbPassword": "hunter2"}, "mlops:tags.dbPassword holds a secret (dbPassword) in plain text"),
    ({"tags.awsSecret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}, "mlops:tags.awsSecret holds a secret (awsSecret)"),
    (
        {"costCenter": "postgres://ml:pw@db:5432/x"},
        "mlops:costCenter holds a password in a URL in plain text; store "
        "it encrypted instead: pulumi config set --secret mlops:costCenter <value>",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), SECRETS, ids=[next(iter(c)) for c, _ in SECRETS])
def test_plain_text_secrets_are_refused_with_the_command(changes: dict[str, Any], expected: str) -> None:
    assert expected in _message("dev", changes)


def test_secure_values_may_hold_secrets() -> None:
    config = with_changes(stack_config("dev"), {"tags.dbPassword": "hunter2"})
    load_settings(config.namespace("mlops"), source="dev", secret_keys=("tags",))


DUPLICATES: list[tuple[str, dict[str, Any], str]] = [
    (
        "dev",
        {"budget.contactEmails": ["ml-platform@example.com", "ml-platform@example.com"]},
        'mlops:budget.contactEmails lists "ml-platform@example.com" more than once; each entry must be unique',
    ),
    ("dev", {"artifacts.tiers.1.prefix": "artifacts/"}, "tier prefixes must be unique, repeated: ['artifacts/']"),
    (
        "prod-aws",
        {"trainingCluster.subnetIds": ["subnet-0a1b2c3d4e5f60718", "subnet-0a1b2c3d4e5f60718"]},
        'mlops:trainingCluster.subnetIds lists "subnet-0a1b2c3d4e5f60718" more than once',
    ),
    (
        "prod",
        {"network.approvedOutboundFqdns": ["pypi.org", "pypi.org"]},
        'mlops:network.approvedOutboundFqdns lists "pypi.org" more than once',
    ),
]


@pytest.mark.parametrize(("stack", "changes", "expected"), DUPLICATES, ids=[next(iter(c)) for _, c, _ in DUPLICATES])
def test_repeated_list_entries_are_refused(stack: str, changes: dict[str, Any], expected: str) -> None:
    assert expected in _message(stack, changes)


NETWORK: list[tuple[str, dict[str, Any], str]] = [
    (
        "prod-aws",
        {"network.routeTableIds": None},
        "mlops:network.routeTableIds is empty: the S3 gateway endpoint is added to the private subnets' route tables",
    ),
    ("prod-aws", {"network.addressSpace": "10.42.0.0/16"}, "mlops:network.addressSpace has no effect on cloud aws"),
    ("prod", {"network.routeTableIds": ["rtb-0123abcd"]}, "mlops:network.routeTableIds has no effect on cloud azure"),
    (
        "prod",
        {"network.privateEndpointSubnet": "10.9.1.0/24"},
        "privateEndpointSubnet 10.9.1.0/24 must lie inside addressSpace 10.42.0.0/16",
    ),
    ("prod", {"network.managedNetwork": "Open"}, "mlops:network.managedNetwork = 'Open'"),
    ("dev", {"network.approvedOutboundFqdns": ["pypi.org"]}, "approvedOutboundFqdns applies only with managedNetwork"),
    ("prod", {"network.privateEndpoint": True}, "did you mean mlops:network.privateEndpoints?"),
]


@pytest.mark.parametrize(("stack", "changes", "expected"), NETWORK, ids=[f"{s}-{next(iter(c))}" for s, c, _ in NETWORK])
def test_network_rules(stack: str, changes: dict[str, Any], expected: str) -> None:
    assert expected in _message(stack, changes)


@pytest.mark.parametrize(
    ("example", "section", "typo"),
    [("examples/sweeps/diabetes.yaml", "limits", "limtis"), ("examples/deployments/canary.yaml", "gates", "gatse")],
    ids=["sweep", "rollout"],
)
def test_misspelt_optional_section_is_refused(example: str, section: str, typo: str) -> None:
    from ml.deploy.spec import parse_spec as parse_rollout
    from ml.sweep.spec.loader import parse_spec as parse_sweep

    parse = parse_sweep if "/sweeps/" in example else parse_rollout
    text = (PROJECT_DIR / example).read_text()
    assert f"\n{section}:" in text
    with pytest.raises(UserError) as caught:
        parse(text.replace(f"\n{section}:", f"\n{typo}:"), source=Path(example).name)
    assert f"unknown key '{typo}'" in str(caught.value)
    assert f"did you mean '{section}'?" in str(caught.value)


def test_committed_examples_still_parse() -> None:
    from ml.deploy.spec import load_spec as load_rollout
    from ml.sweep.spec.loader import load_spec as load_sweep

    for path in sorted(Path(PROJECT_DIR / "examples/sweeps").glob("*.yaml")):
        load_sweep(path)
    for path in sorted(Path(PROJECT_DIR / "examples/deployments").glob("*.yaml")):
        load_rollout(path)


NESTED_TYPOS: list[tuple[str, dict[str, Any], str]] = [
    ("dev", {"trainingCluster.maxNode": 3}, "mlops:trainingCluster.maxNodes"),
    ("dev", {"artifacts.tiers.0.coolAfterDay": 3}, "mlops:artifacts.tiers[0].coolAfterDays"),
    ("dev", {"budget.thresholds.0.percnt": 50}, "mlops:budget.thresholds[0].percent"),
    ("dev", {"monitoring.samplingPercnt": 5}, "mlops:monitoring.samplingPercent"),
    ("dev-aws", {"aws.sagemakerDomian": True}, "mlops:aws.sagemakerDomain"),
    ("dev-k8s", {"kubernetes.serving.imag": "ghcr.io/x:1"}, "mlops:kubernetes.serving.image"),
]


@pytest.mark.parametrize(("stack", "changes", "meant"), NESTED_TYPOS, ids=[next(iter(c)) for _, c, _ in NESTED_TYPOS])
def test_misspelt_nested_keys_name_the_closest(stack: str, changes: dict[str, Any], meant: str) -> None:
    """At any depth, in list items too: the key as written, then the one it most likely meant."""
    typo = next(iter(changes))
    written = "mlops:" + typo.replace(".0.", "[0].")
    assert f"{written} is not a known setting (typo?); did you mean {meant}?" in _message(stack, changes)


def test_a_key_written_twice_in_the_stack_file_is_refused_with_its_line(tmp_path: Path) -> None:
    """Two `blue:` colours: PyYAML would keep the last silently; the stack reader refuses, as Pulumi does."""
    from ml.plan.stack_file import read_stack_config

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    text = (PROJECT_DIR / "Pulumi.dev-k8s.yaml").read_text()
    at = text.index("      blue:")
    (tmp_path / "Pulumi.twice.yaml").write_text(text[:at] + "      blue:\n        weight: 0\n" + text[at:])
    line = text[:at].count("\n") + 3

    with pytest.raises(UserError) as caught:
        read_stack_config(tmp_path, "twice")
    assert (
        f"line {line}, config.mlops:kubernetes.colours.blue: duplicate key 'blue' "
        "(YAML would silently keep only the last one)"
    ) in str(caught.value)


def test_plain_text_secrets_in_spec_files_are_refused_with_their_line() -> None:
    """The same patterns as the stack config (`ml.contract.secrets`), in sweep and rollout specs."""
    from ml.deploy.spec import parse_spec as parse_rollout
    from ml.sweep.spec.loader import parse_spec as parse_sweep

    sweep = (PROJECT_DIR / "examples/sweeps/diabetes.yaml").read_text()
    sas = "https://acct.blob.core.windows.net/data?sv=2024-05-04&sig=abc%3D"
    with pytest.raises(UserError) as caught:
        parse_sweep(sweep.replace("--n-estimators 200", f"--data '{sas}' --n-estimators 200"), source="d.yaml")
    assert "line 10, command: holds a SAS token in plain text; a spec file is shared and committed" in str(caught.value)

    rollout = (PROJECT_DIR / "examples/deployments/canary.yaml").read_text()
    with pytest.raises(UserError) as caught:
        parse_rollout(
            rollout.replace("../data/breast_cancer_holdout.csv", "s3://ml:hunter2@host/holdout.csv"), source="c.yaml"
        )
    assert "validation.data: holds a password in a URL in plain text" in str(caught.value)
    parse_sweep(sweep, source="d.yaml")  # the committed examples hold none
