"""`ml teardown`: what `ml` created outside Pulumi's state, listed, deleted on confirmation, audited.

- `leftovers`: the `Leftover` record (what, where, how to delete it) every cloud module returns;
- `azure`, `aws`, `kubernetes`: per cloud, what rollouts and sweeps left behind (before `pulumi
  destroy`) and what is still there after it (`--check`);
- `cli`: list, confirm (or `--yes`), delete, record in the audit log, print `pulumi destroy`.
"""
