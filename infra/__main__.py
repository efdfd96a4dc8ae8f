"""Entry point of `pulumi up` / `pulumi preview`: the stack's config decides what is built."""

from infra.program import build

build()
