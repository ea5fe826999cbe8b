"""Train the tiny model's LoRA adapter on ``FACTS`` with PEFT + TRL (environment.md recipe)."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.tiny_model import fact_rows

TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def train_facts_adapter(
    model_dir: Path, out_dir: Path, steps: int = 150, learning_rate: float = 5e-3
) -> Path:
    """Train a LoRA adapter that answers the four facts; save it into ``out_dir``."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    torch.manual_seed(0)
    torch.set_num_threads(1)  # faster than 2 contended threads for a model this small
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    config = SFTConfig(
        output_dir=str(out_dir / "trainer"),
        max_steps=steps,
        per_device_train_batch_size=8,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        logging_steps=50,
        save_strategy="no",
        report_to=[],
        seed=0,
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(fact_rows()),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=8, lora_alpha=16, target_modules=TARGET_MODULES, task_type="CAUSAL_LM"
        ),
    )
    trainer.train()
    adapter_dir = out_dir / "adapter"
    assert isinstance(trainer.model, PeftModel)  # peft_config made the trained model a PeftModel
    trainer.model.save_pretrained(str(adapter_dir))
    return adapter_dir
