"""Run upstream Kaito's own tuning script (``fine_tuning.py``) from a path, on a CPU, and time it.

Used by ``bench/tuning.py`` for its "upstream script" rows; never copies upstream's code. The
script is a module-level program made for a GPU pod: it reads ``$YAML_FILE_PATH`` and
``$DATASET_FOLDER_PATH``, imports its sibling modules (``cli``, ``parser``, ``dataset``) and calls
``torch.cuda.set_device`` unconditionally. This runner puts the script's folder on ``sys.path``,
makes ``torch.cuda.set_device`` a no-op when no GPU is present (the one call that cannot work on
a CPU), lets ``HfArgumentParser`` skip dataclass fields it cannot express (PEFT 0.21's
``LoraConfig`` has fields, such as ``trainable_token_indices``, with union types or argparse-
foreign metadata, which upstream's template never sets; they keep their defaults and the runner
names them on stderr), turns back into PEFT's ``LoraRuntimeConfig`` the plain dict that
``dataclasses.asdict`` made of it in the script (PEFT 0.21 expects the object), wraps
``SFTTrainer.train`` to time the training itself (model loading excluded, as in our runtime's
tokens/s) and runs the script as ``__main__``.

Usage: ``python bench/upstream_tuning.py SCRIPT TIMING_JSON`` with the two variables set.
"""

from __future__ import annotations

import dataclasses
import json
import runpy
import sys
import time
from pathlib import Path
from typing import Any


def main() -> int:
    script, timing = Path(sys.argv[1]).resolve(), Path(sys.argv[2])
    import torch
    import trl

    if not torch.cuda.is_available():
        torch.cuda.set_device = lambda *_args, **_kwargs: None
    from transformers import hf_argparser

    parse_field = hf_argparser.HfArgumentParser._parse_dataclass_field

    def tolerant(parser: Any, field: Any) -> None:
        try:
            parse_field(parser, field)
        except (ValueError, TypeError):
            print(f"upstream_tuning: {field.name} left at its default", file=sys.stderr)
            if field.default is not dataclasses.MISSING:
                default = field.default
            elif field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            else:
                default = None
            parser.set_defaults(**{field.name: default})

    hf_argparser.HfArgumentParser._parse_dataclass_field = staticmethod(tolerant)  # type: ignore[method-assign,assignment]
    import peft
    from peft.tuners.lora.config import LoraRuntimeConfig

    lora_post_init = peft.LoraConfig.__post_init__

    def post_init(self: Any) -> None:
        if isinstance(self.runtime_config, dict):
            self.runtime_config = LoraRuntimeConfig(**self.runtime_config)
        lora_post_init(self)

    peft.LoraConfig.__post_init__ = post_init  # type: ignore[method-assign]
    original = trl.SFTTrainer.train  # type: ignore[attr-defined]

    def timed_train(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        result = original(self, *args, **kwargs)
        timing.write_text(
            json.dumps(
                {
                    "train_seconds": time.monotonic() - started,
                    "global_step": self.state.global_step,
                    "train_loss": getattr(result, "training_loss", None),
                    "bf16": bool(self.args.bf16),
                    "model_dtype": str(next(self.model.parameters()).dtype),
                }
            )
        )
        return result

    trl.SFTTrainer.train = timed_train  # type: ignore[attr-defined]
    sys.path.insert(0, str(script.parent))
    sys.argv = [str(script)]
    runpy.run_path(str(script), run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
