"""Presets: the model catalog, GPU SKU tables and the sizing rules.

Pure: no I/O beyond reading package data, no network, no torch.

Modules, bottom up:

- ``errors``: ``PresetError`` and its subclasses (unknown/deprecated preset, unknown SKU, estimate).
- ``model_spec``: ``ModelSpec``, the catalog entry as one frozen pydantic model (the data keys,
  ``-o json`` and the published JSON Schema all come from it).
- ``catalog_file``: reads ``data/models.yaml`` into ``ModelSpec`` entries; errors name the entry
  and the field.
- ``catalog``: ``get_model`` / ``list_models`` / ``is_valid_preset_name``; re-exports the two above.
- ``skus``: ``GPUConfig`` per instance type and cloud, and from GPU Feature Discovery node labels.
- ``mig``: NVIDIA MIG profiles.
- ``estimator``: ``estimate_nodes``, the node count a preset needs on a GPU type.
- ``parallelism``: ``plan_parallelism``, tensor/pipeline/data parallel sizes.
- ``engine_args``: ``build_vllm_args`` / ``build_transformers_args``, the runtime flags.

Callers import the module and call through it (``catalog.get_model(name)``).
"""
