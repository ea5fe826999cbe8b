"""Model sources shared by the inference and tuning runtimes.

A Workspace names its model as a preset, a Hugging Face repo id, a local directory or (on one
machine) a GGUF file. Both runtimes need the same thing from any of these: a local directory in
Hugging Face format that ``from_pretrained`` can read. :func:`materialize_model` is that single
door; the heavy work (GGUF dequantisation, hub downloads) is cached under ``$KAITO_CACHE_DIR``.
"""

from __future__ import annotations

from kaito.runtime.models.sources import ModelSourceError, is_local_source, materialize_model

__all__ = ["ModelSourceError", "is_local_source", "materialize_model"]
