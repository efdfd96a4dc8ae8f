"""`ml preflight`: what a stack will ask of its account, checked against the live account before anything is built.

- `checks`: one `Check` record per row, the table, the JSON and the one rule for what blocks;
- `azure`, `aws`, `kubernetes`: the live checks of one cloud each, from `ml.plan.needs` (plain data);
- `run`: every check a stack's needs call for; `cli`: the command and the small call `ml sweep run`
  and `ml deploy` make before they submit anything on a cloud stack.
"""
