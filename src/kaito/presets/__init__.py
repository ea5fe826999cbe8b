"""Presets: the model catalog, GPU SKU tables and the sizing rules.

Pure: no I/O beyond reading package data, no network, no torch.

Modules, bottom up:

- ``errors``: ``PresetError`` and its subclasses (unknown/deprecated preset, unknown SKU, estimate).
- ``catalog``: ``ModelSpec`` and ``get_model`` / ``list_models`` / ``is_valid_preset_name``.
- ``skus``: ``GPUConfig`` per instance type and cloud, and from GPU Feature Discovery node labels.
- ``mig``: NVIDIA MIG profiles.
- ``estimator``: ``estimate_nodes``, the node count a preset needs on a GPU type.
- ``parallelism``: ``plan_parallelism``, tensor/pipeline/data parallel sizes.
- ``engine_args``: ``build_vllm_args`` / ``build_transformers_args``, the runtime flags.

Callers import the module and call through it (``catalog.get_model(name)``).
"""
