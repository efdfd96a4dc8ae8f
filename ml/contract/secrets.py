"""What a secret written in plain text looks like, for every YAML the project reads.

Why in the contract: the stack config (`infra/config/input_rules.py`, which answers with the
`pulumi config set --secret` command) and the sweep and rollout specs (`ml.contract.validation`,
which answers with an environment variable) refuse the same things, so the patterns live once.
"""

from __future__ import annotations

import re

SECRET_VALUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"AccountKey=|DefaultEndpointsProtocol=.*;", re.IGNORECASE), "a storage connection string"),
    (re.compile(r"SharedAccessKey=|SharedAccessSignature=", re.IGNORECASE), "a connection string with an access key"),
    (re.compile(r"(^|[?&])sig=[^&]+", re.IGNORECASE), "a SAS token"),
    (re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"), "an AWS access key id"),
    (re.compile(r"(^|[^A-Za-z0-9/+])[A-Za-z0-9+/]{86}==($|[^A-Za-z0-9/+=])"), "an account key"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a password in a URL"),
    (re.compile(r"\b(password|passwd|pwd)\s*[=:]", re.IGNORECASE), "a password"),
)
"""Value patterns that are secrets wherever they appear, and how a message names them."""

SECRET_KEY_NAMES = re.compile(
    r"(password|passwd|secret|token|apikey|accesskey|accountkey|connectionstring|sas)$", re.IGNORECASE
)
"""Key names whose value is a secret whatever it looks like (an AWS secret access key has no shape)."""


def looks_secret(value: str, key: str | None = None) -> str | None:
    """What ``value`` (under ``key``) is if it is a secret in plain text ("a SAS token", ...), else None."""
    if not value:
        return None
    found = next((what for pattern, what in SECRET_VALUES if pattern.search(value)), None)
    if found is None and key is not None and SECRET_KEY_NAMES.search(key.replace("_", "")):
        found = f"a secret ({key})"
    return found
