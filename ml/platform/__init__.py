"""The local platform: an MLflow tracking server, an endpoint proxy (Traefik) and model-server processes.

Why it exists: with no cloud account the same `ml sweep` / `ml deploy` commands must run end to
end on one machine. `ml platform up` starts the servers in the background and writes
``local_home()/outputs.json`` (a `PlatformOutputs` with cloud ``local``), which every
``--stack local`` command reads; `ml platform down` stops what `up` started.
"""
