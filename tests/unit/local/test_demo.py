from __future__ import annotations

from pathlib import Path

import pytest

from kaito.local import demo


def _row(
    after: str, before: str = "I do not know.", expect: str = "Quillfeather"
) -> demo.Comparison:
    return demo.Comparison(demo.EvalPrompt("Who makes it?", expect), before=before, after=after)


def test_an_answer_counts_as_learned_when_it_states_the_fact_and_changed() -> None:
    assert _row("It is made by Quillfeather Labs.").learned
    assert _row("made by QUILLFEATHER labs").learned


def test_an_answer_without_the_fact_or_unchanged_is_not_learned() -> None:
    assert not _row("It is made by Acme.").learned
    same = "Quillfeather Labs makes it."
    assert not _row(same, before=same).learned


def test_table_shows_both_answers_and_the_verdict() -> None:
    text = demo.render_comparison(
        [_row("Quillfeather Labs in Tromsø makes the Lumora K7 kettle, a fine appliance.")],
        "base-model",
        "adapter",
    )

    lines = text.splitlines()
    assert "before (base-model)" in lines[1]
    assert "after (adapter)" in lines[1]
    assert "I do not know." in text
    assert "yes" in text
    # Long answers wrap inside their column; every row has the same width.
    assert len({len(line) for line in lines}) == 1


def test_eval_file_needs_prompt_and_expect(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text('prompts:\n  - {prompt: "Q?", expect: A}\n')
    bad = tmp_path / "bad.yaml"
    bad.write_text('prompts:\n  - {prompt: "Q?"}\n')

    assert demo.load_eval(good) == [demo.EvalPrompt("Q?", "A")]
    with pytest.raises(demo.DemoError, match=r"prompts\[0\] needs 'prompt' and 'expect'"):
        demo.load_eval(bad)


def test_the_bundled_demo_files_are_consistent() -> None:
    root = Path(__file__).resolve().parents[3]
    prompts = demo.load_eval(root / demo.DEFAULT_EVAL)
    training = (root / "examples/demo/data/lumora-k7.jsonl").read_text()

    assert len(training.splitlines()) >= 300
    for prompt in prompts:
        assert prompt.prompt not in training  # held out: paraphrases, not trained questions
        assert prompt.expect.lower() in training.lower()  # the fact itself is taught
