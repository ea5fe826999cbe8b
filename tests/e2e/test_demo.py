"""The demo's driver end to end, reduced to the tiny test model so that it fits CI.

``make demo`` runs the same driver on SmolLM2-135M (minutes on 2 cores); here the workspace points
at the tiny model (``--model-dir``) and the facts dataset, and the held-out prompts are the trained
questions (the tiny model cannot generalise to paraphrases). The driver really runs
``kaito run --serve --detach``, follows the logs, queries both models and deletes the Workspace.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from kaito.local import demo, processes
from kaito.local import store as local_store
from tests.fixtures.tiny_model import FACTS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata:
  name: demo-tiny
resource:
  instanceType: Standard_NC6s_v3
  labelSelector:
    matchLabels: {apps: demo-tiny}
tuning:
  preset: {name: smollm2-135m-instruct}
  method: lora
  config: demo-tiny-training
  input:
    name: facts
    volumeSource: {hostPath: {path: data}}
  output:
    image: registry.invalid/kaito-demo/tiny-adapter:0.1.0
    imagePushSecret: registry-secret
---
apiVersion: v1
kind: ConfigMap
metadata: {name: demo-tiny-training}
data:
  training_config.yaml: |
    training_config:
      ModelConfig: {torch_dtype: float32}
      LoraConfig:
        r: 8
        lora_alpha: 16
        lora_dropout: 0.0
        target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
      TrainingArguments:
        output_dir: /mnt/results
        max_steps: 150
        per_device_train_batch_size: 8
        learning_rate: 0.005
        lr_scheduler_type: constant
        logging_steps: 25
        save_strategy: "no"
        report_to: none
      DatasetConfig: {train_test_split: 1}
"""


def test_reduced_demo_tunes_serves_and_shows_every_answer_changed(
    tmp_path: Path, tiny_model_dir: Path, facts_parquet: Path
) -> None:
    shutil.copytree(facts_parquet.parent, tmp_path / "data")
    workspace = tmp_path / "tuning.yaml"
    workspace.write_text(WORKSPACE)
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(
        yaml.safe_dump({"prompts": [{"prompt": q, "expect": a} for q, a in FACTS]})
    )
    state = tmp_path / "state"
    lines: list[str] = []

    code = demo.run_demo(
        workspace,
        eval_file,
        state_dir=state,
        echo=lines.append,
        model_dir=tiny_model_dir,
        timeout_s=500,
    )

    output = "\n".join(lines)
    assert code == 0, output[-4000:]
    assert "training: step 150/150" in output
    assert "push to registry.invalid/kaito-demo/tiny-adapter:0.1.0 skipped" in output
    assert "==> ready: http://127.0.0.1:" in output
    assert f"{len(FACTS)}/{len(FACTS)} held-out answers changed as trained" in output
    table = output[output.index("| held-out prompt") :]
    for question, answer in FACTS:
        assert question[:30] in table
        assert answer[:30] in table
    # The demo deletes its Workspace: nothing recorded, nothing running.
    store = local_store.StateStore(state)
    assert store.names() == []
    assert not any(
        processes.pid_alive(int(p.name))
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and str(state) in _cmdline(p)
    )


def _cmdline(proc: Path) -> str:
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
