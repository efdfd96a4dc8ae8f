"""Azure-only config: the VM size families Azure ML accepts and `mlops:keyVault`.

Why apart from the shared sections: these facts mean nothing on cloud aws; the cross-section rules
(`infra.config.rules`) apply them only when the stack's cloud is azure.
"""

from __future__ import annotations

import re

from pydantic import Field

from infra.config.base import Section

AZURE_GPU_FAMILIES = re.compile(r"^Standard_N(C|D|V|G)[0-9A-Za-z_]*$")
AZURE_CPU_FAMILIES = re.compile(r"^Standard_(D|DS|E|ES|F|FS|B)[0-9][0-9A-Za-z_]*$")


class KeyVaultSettings(Section):
    purge_protection: bool = True
    soft_delete_retention_days: int = Field(default=90, ge=7, le=90)
