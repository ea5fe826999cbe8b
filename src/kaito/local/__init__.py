"""Local mode: run a Workspace on this machine, without Kubernetes (``kaito run``).

Local mode is a supervisor, not a second implementation. It validates the Workspace with the same
``kaito.api`` rules the webhook uses, sizes it against this machine, and then runs the very commands
a tuning Job or an inference pod runs (``kaito fetch-data``, ``kaito pull``, ``kaito-tune``,
``kaito push``, ``kaito-serve``) as local processes. What a cluster keeps in the API server (the
Workspace with its ``status.conditions`` and ``status.state``) is kept in a state directory, so that
``kaito get``, ``kaito logs`` and ``kaito delete`` work across terminal sessions and restarts.

Modules:

- ``settings``: the environment (``KAITO_STATE_DIR`` and friends), read in one place.
- ``store``: the state directory: one folder per Workspace, atomic JSON records.
- ``processes``: start, watch and stop supervised processes (pid files, process groups, logs).
- ``status``: the operator's conditions and states, computed from local progress.
- ``machine``: facts about this machine (memory, GPU, network) and the refusals they imply.
- ``manifests``: reading Workspace files with their ConfigMaps, and the offline validation.
- ``plan``: the pure step list (argv of each runtime command) for a Workspace.
- ``runner``: executes a plan, step by step, recording status as it goes.
- ``listing``: the ``kaito get`` table, identical in columns to ``kubectl get workspace``.
- ``demo``: ``make demo``: tune, serve, and compare answers before and after.
"""
