"""Dataset discovery, reading, row checks and conversion (no model involved)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from kaito.runtime.tuning.config import DatasetConfig
from kaito.runtime.tuning.dataset import (
    KIND_MESSAGES,
    KIND_PROMPT_COMPLETION,
    KIND_TEXT,
    find_dataset_files,
    normalise_rows,
    prepare_dataset,
    read_rows,
)
from kaito.runtime.tuning.errors import DatasetError, InputUnreadableError
from tests.fixtures.tiny_model import fact_rows

CFG = DatasetConfig()


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _chat(q: str, a: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def test_messages_rows_pass_through(tmp_path: Path) -> None:
    rows = fact_rows(8)
    kind, out = normalise_rows(rows, tmp_path / "f.parquet", CFG)
    assert kind == KIND_MESSAGES
    assert out == [{"messages": r["messages"]} for r in rows]


def test_alpaca_rows_become_chat_messages(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Capital of Zorbia?", "input": "", "output": "Quillton."},
        {"instruction": "Translate", "input": "hallo", "output": "hello"},
    ]
    kind, out = normalise_rows(rows, tmp_path / "a.jsonl", CFG)
    assert kind == KIND_MESSAGES
    assert out == [
        _chat("Capital of Zorbia?", "Quillton."),
        _chat("Translate\n\nhallo", "hello"),
    ]


def test_dolly_rows_become_chat_messages(tmp_path: Path) -> None:
    rows = [
        {"instruction": "Who?", "context": "", "response": "Tinker guild.", "category": "qa"},
        {"instruction": "Summarise", "context": "A long text.", "response": "Short."},
    ]
    kind, out = normalise_rows(rows, tmp_path / "d.jsonl", CFG)
    assert kind == KIND_MESSAGES
    assert out == [_chat("Who?", "Tinker guild."), _chat("Summarise\n\nA long text.", "Short.")]


def test_prompt_completion_and_text_rows_are_recognised(tmp_path: Path) -> None:
    kind, out = normalise_rows([{"prompt": "Q", "completion": "A"}], tmp_path / "p.csv", CFG)
    assert (kind, out) == (KIND_PROMPT_COMPLETION, [{"prompt": "Q", "completion": "A"}])
    kind, out = normalise_rows([{"text": "hello world", "id": 1}], tmp_path / "t.csv", CFG)
    assert (kind, out) == (KIND_TEXT, [{"text": "hello world"}])


def test_configured_columns_build_prompt_completion_pairs(tmp_path: Path) -> None:
    cfg = DatasetConfig(context_column="question", response_column="answer")
    kind, out = normalise_rows([{"question": "Q?", "answer": "A."}], tmp_path / "x.csv", cfg)
    assert (kind, out) == (KIND_PROMPT_COMPLETION, [{"prompt": "Q?", "completion": "A."}])


def test_configured_messages_column_is_used(tmp_path: Path) -> None:
    cfg = DatasetConfig(messages_column="conversation")
    row = {"conversation": _chat("q", "a")["messages"]}
    assert normalise_rows([row], tmp_path / "x.jsonl", cfg) == (KIND_MESSAGES, [_chat("q", "a")])


def test_empty_dataset_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    with pytest.raises(DatasetError, match=f"{path}: dataset is empty"):
        normalise_rows([], path, CFG)


def test_missing_columns_list_what_was_found(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as info:
        normalise_rows([{"question": "q", "reply": "a"}], tmp_path / "x.csv", CFG)
    assert "no recognised columns (found question, reply; expected messages" in str(info.value)


def test_configured_column_that_is_missing_is_named(tmp_path: Path) -> None:
    cfg = DatasetConfig(context_column="question", response_column="answer")
    with pytest.raises(DatasetError, match="column 'answer' named in DatasetConfig is missing"):
        normalise_rows([{"question": "q"}], tmp_path / "x.csv", cfg)


@pytest.mark.parametrize(
    ("bad_row", "problem"),
    [
        ({"messages": []}, "'messages' must be a non-empty list of messages"),
        ({"messages": "hi"}, "'messages' must be a non-empty list of messages"),
        ({"messages": [{"role": "user"}]}, "message 1 has no text 'content'"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "message 1 has role 'robot' (expected one of",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}]},
            "no assistant message with content to learn from",
        ),
        ({"messages": ["text"]}, "message 1 is not an object"),
    ],
)
def test_malformed_message_row_names_file_row_and_problem(
    bad_row: dict[str, Any], problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "chat.jsonl"
    rows = [_chat("q", "a"), _chat("q2", "a2"), bad_row]
    with pytest.raises(DatasetError) as info:
        normalise_rows(rows, path, CFG)
    assert str(info.value).startswith(f"{path}: row 3: {problem}")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"instruction": "do", "output": ""}, "row 2: 'output' is empty"),
        ({"instruction": None, "output": "x"}, "row 2: 'instruction' is missing"),
        ({"instruction": "do", "output": 5}, "row 2: 'output' is not text"),
    ],
)
def test_malformed_alpaca_row_is_named(row: dict[str, Any], problem: str, tmp_path: Path) -> None:
    rows = [{"instruction": "a", "input": "", "output": "b"}, row]
    with pytest.raises(DatasetError, match=problem):
        normalise_rows(rows, tmp_path / "a.json", CFG)


@pytest.mark.parametrize("suffix", ["parquet", "jsonl", "json", "csv", "arrow"])
def test_every_supported_format_is_read(suffix: str, tmp_path: Path) -> None:
    rows = [{"prompt": f"q{i}", "completion": f"a{i}"} for i in range(3)]
    path = tmp_path / f"data.{suffix}"
    if suffix == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif suffix == "jsonl":
        _jsonl(path, rows)
    elif suffix == "json":
        path.write_text(json.dumps(rows), encoding="utf-8")
    elif suffix == "csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["prompt", "completion"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        table = pa.Table.from_pylist(rows)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
    assert read_rows(path) == rows


def test_json_file_holding_json_lines_is_read(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "data.json", [{"text": "a"}, {"text": "b"}])
    assert read_rows(path) == [{"text": "a"}, {"text": "b"}]


def test_invalid_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{"text": broken}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=f"{path}: line 3 is not valid JSON"):
        read_rows(path)


def test_row_that_is_not_an_object_is_named(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_text('[{"text": "ok"}, "oops"]', encoding="utf-8")
    with pytest.raises(DatasetError, match=f"{path}: row 2 is not an object but str"):
        read_rows(path)


def test_corrupt_parquet_is_unreadable_input(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(InputUnreadableError, match=f"{path}: cannot parse as parquet"):
        read_rows(path)


def test_discovery_skips_hidden_folders_and_unknown_suffixes(tmp_path: Path) -> None:
    _jsonl(tmp_path / "b" / "part2.jsonl", [_chat("q", "a")])
    _jsonl(tmp_path / "a.jsonl", [_chat("q", "a")])
    _jsonl(tmp_path / ".kaito-checkpoints" / "x.jsonl", [_chat("q", "a")])
    (tmp_path / "notes.txt").write_text("ignore me", encoding="utf-8")
    assert find_dataset_files(tmp_path, CFG, tmp_path) == [
        tmp_path / "a.jsonl",
        tmp_path / "b" / "part2.jsonl",
    ]


def test_no_dataset_files_is_an_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("x", encoding="utf-8")
    with pytest.raises(DatasetError, match=f"no dataset files .* under {tmp_path}"):
        find_dataset_files(tmp_path, CFG, tmp_path)


def test_dataset_path_is_resolved_against_the_root(tmp_path: Path) -> None:
    target = _jsonl(tmp_path / "root" / "custom" / "mine.jsonl", [_chat("q", "a")])
    _jsonl(tmp_path / "data" / "other.jsonl", [_chat("q", "a")])
    cfg = DatasetConfig(dataset_path="custom/mine.jsonl")
    assert find_dataset_files(tmp_path / "data", cfg, tmp_path / "root") == [target]


def test_missing_dataset_path_names_the_locations_tried(tmp_path: Path) -> None:
    cfg = DatasetConfig(dataset_path="absent.parquet")
    with pytest.raises(DatasetError, match=r"DatasetConfig\.dataset_path 'absent\.parquet'"):
        find_dataset_files(tmp_path / "data", cfg, tmp_path)


def test_dataset_extension_filters_files(tmp_path: Path) -> None:
    _jsonl(tmp_path / "a.jsonl", [_chat("q", "a")])
    (tmp_path / "b.csv").write_text("text\nhello\n", encoding="utf-8")
    cfg = DatasetConfig(dataset_extension="csv")
    assert find_dataset_files(tmp_path, cfg, tmp_path) == [tmp_path / "b.csv"]


def test_files_of_different_shapes_are_rejected(tmp_path: Path) -> None:
    _jsonl(tmp_path / "a.jsonl", [_chat("q", "a")])
    _jsonl(tmp_path / "b.jsonl", [{"text": "plain"}])
    with pytest.raises(DatasetError, match="all dataset files of one run must have the same shape"):
        prepare_dataset(tmp_path, CFG, tmp_path)


def test_split_and_seeded_shuffle_are_applied(tmp_path: Path) -> None:
    _jsonl(tmp_path / "a.jsonl", [{"text": f"row {i}"} for i in range(10)])
    cfg = DatasetConfig(train_test_split=0.8, shuffle_seed=7)
    first = prepare_dataset(tmp_path, cfg, tmp_path)
    second = prepare_dataset(tmp_path, cfg, tmp_path)
    assert len(first.train) == 8
    assert first.eval is not None
    assert len(first.eval) == 2
    train, held_out = list(first.train["text"]), list(first.eval["text"])
    assert train == list(second.train["text"])
    assert sorted(train + held_out) == sorted(f"row {i}" for i in range(10))
    assert train != [f"row {i}" for i in range(8)]


def test_without_shuffle_order_is_kept_and_split_one_has_no_eval(tmp_path: Path) -> None:
    _jsonl(tmp_path / "a.jsonl", [{"text": f"row {i}"} for i in range(5)])
    prepared = prepare_dataset(
        tmp_path, DatasetConfig(shuffle_dataset=False, train_test_split=1), tmp_path
    )
    assert list(prepared.train["text"]) == [f"row {i}" for i in range(5)]
    assert prepared.eval is None
    assert prepared.kind == KIND_TEXT
