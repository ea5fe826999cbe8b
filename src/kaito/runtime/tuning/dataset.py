"""Find, read, check and normalise the training data before any model is loaded.

Loading a multi-gigabyte model only to fail on row 9,000 of a dataset wastes a GPU node, so every
row is checked first and a problem is reported with the file, the row and what is wrong.

Accepted row shapes (one per file; all files of a run must agree after conversion):

- OpenAI chat: a ``messages`` list of ``{"role", "content"}`` with at least one assistant turn;
- ``prompt`` / ``completion`` (strings, or message lists as TRL accepts);
- plain ``text``;
- Alpaca ``instruction`` / ``input`` / ``output`` and Dolly ``instruction`` / ``context`` /
  ``response``, both converted to chat messages (upstream documents the column options but
  ignores them, reference §5).

Files may be parquet, jsonl, json, csv or arrow; shuffling and the train/test split follow the
``DatasetConfig`` section.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kaito.runtime.tuning.config import DatasetConfig
from kaito.runtime.tuning.errors import DatasetError, InputUnreadableError

logger = logging.getLogger(__name__)

FORMAT_PARQUET = "parquet"
FORMAT_JSONL = "jsonl"
FORMAT_JSON = "json"
FORMAT_CSV = "csv"
FORMAT_ARROW = "arrow"
FORMATS: tuple[str, ...] = (FORMAT_PARQUET, FORMAT_JSONL, FORMAT_JSON, FORMAT_CSV, FORMAT_ARROW)

KIND_MESSAGES = "messages"
KIND_PROMPT_COMPLETION = "prompt-completion"
KIND_TEXT = "text"

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
ASSISTANT_ROLE = "assistant"
DEFAULT_MESSAGES_COLUMN = "messages"
_SHAPES_HINT = (
    "messages | prompt+completion | text | instruction+output (Alpaca) | "
    "instruction+response (Dolly)"
)


@dataclass(frozen=True)
class PreparedDataset:
    """Normalised rows ready for TRL, with where they came from."""

    kind: str
    """``messages``, ``prompt-completion`` or ``text``."""
    files: tuple[Path, ...]
    """The dataset files read, in order."""
    train: Any
    """A ``datasets.Dataset`` of training rows."""
    eval: Any | None
    """A ``datasets.Dataset`` of held-out rows, or ``None`` when ``train_test_split`` is 1."""


def find_dataset_files(data_dir: Path, config: DatasetConfig, root: Path) -> list[Path]:
    """Return the dataset files to read, sorted, following ``dataset_path`` when it is set.

    Raises:
        DatasetError: nothing usable was found.
    """
    if config.dataset_path:
        given = Path(config.dataset_path)
        candidates = [given] if given.is_absolute() else [root / given, data_dir / given]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            tried = " or ".join(str(c) for c in candidates)
            raise DatasetError(
                f"DatasetConfig.dataset_path '{config.dataset_path}': {tried} does not exist"
            )
        if found.is_file():
            return [found]
        base = found
    else:
        base = data_dir
    if not base.is_dir():
        raise DatasetError(f"dataset folder {base} does not exist")
    wanted = {_normalise_format(config.dataset_extension)} if config.dataset_extension else None
    files = [
        p
        for p in sorted(base.rglob("*"))
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(base).parts)
        and _format_of(p) is not None
        and (wanted is None or _format_of(p) in wanted)
    ]
    if not files:
        kinds = ", ".join(f"*.{f}" for f in (sorted(wanted) if wanted else FORMATS))
        raise DatasetError(f"no dataset files ({kinds}) under {base}")
    return files


def read_rows(path: Path, file_format: str | None = None) -> list[dict[str, Any]]:
    """Read every row of one dataset file as a dict.

    Raises:
        InputUnreadableError: the file cannot be read or parsed at all.
        DatasetError: a row is not an object.
    """
    fmt = _normalise_format(file_format) if file_format else _format_of(path)
    if fmt is None:
        raise DatasetError(f"{path}: unknown dataset format (expected one of {', '.join(FORMATS)})")
    try:
        if fmt == FORMAT_PARQUET:
            import pyarrow.parquet as pq

            rows: list[Any] = pq.read_table(str(path)).to_pylist()
        elif fmt == FORMAT_ARROW:
            rows = _read_arrow(path)
        elif fmt == FORMAT_CSV:
            with path.open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
        elif fmt == FORMAT_JSONL:
            rows = list(_read_jsonl(path))
        else:
            rows = _read_json(path)
    except (DatasetError, InputUnreadableError):
        raise
    except UnicodeDecodeError as exc:
        raise InputUnreadableError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise InputUnreadableError(f"{path}: cannot read: {exc}") from exc
    except Exception as exc:  # pyarrow raises its own hierarchy for corrupt files
        raise InputUnreadableError(f"{path}: cannot parse as {fmt}: {exc}") from exc
    for index, row in enumerate(rows, start=1):
        if not isinstance(row, Mapping):
            raise DatasetError(f"{path}: row {index} is not an object but {type(row).__name__}")
    return rows


def normalise_rows(
    rows: list[dict[str, Any]], path: Path, config: DatasetConfig
) -> tuple[str, list[dict[str, Any]]]:
    """Check every row and convert it to one of the three shapes TRL trains on.

    Returns:
        The kind (``messages``, ``prompt-completion``, ``text``) and the converted rows.

    Raises:
        DatasetError: the file is empty, lacks the columns of every known shape, or a row is
            malformed; the message names the file, the row (1-based) and the problem.
    """
    if not rows:
        raise DatasetError(f"{path}: dataset is empty")
    columns = set().union(*(row.keys() for row in rows))
    messages_column = config.messages_column or DEFAULT_MESSAGES_COLUMN
    if messages_column in columns:
        return KIND_MESSAGES, [
            {"messages": _check_messages(row.get(messages_column), path, i, messages_column)}
            for i, row in enumerate(rows, start=1)
        ]
    if config.context_column:
        missing = [c for c in (config.context_column, config.response_column) if c not in columns]
        if missing:
            raise DatasetError(
                f"{path}: column '{missing[0]}' named in DatasetConfig is missing "
                f"(found {', '.join(sorted(columns))})"
            )
        return KIND_PROMPT_COMPLETION, [
            _prompt_completion(row, path, i, config.context_column, config.response_column)
            for i, row in enumerate(rows, start=1)
        ]
    if {"prompt", "completion"} <= columns:
        return KIND_PROMPT_COMPLETION, [
            _prompt_completion(row, path, i, "prompt", "completion")
            for i, row in enumerate(rows, start=1)
        ]
    if {"instruction", "output"} <= columns:
        return KIND_MESSAGES, [
            _instruction_row(row, path, i, "input", "output") for i, row in enumerate(rows, start=1)
        ]
    if {"instruction", "response"} <= columns:
        return KIND_MESSAGES, [
            _instruction_row(row, path, i, "context", "response")
            for i, row in enumerate(rows, start=1)
        ]
    if config.response_column in columns:
        return KIND_TEXT, [
            {"text": _required_text(row, config.response_column, path, i)}
            for i, row in enumerate(rows, start=1)
        ]
    raise DatasetError(
        f"{path}: no recognised columns (found {', '.join(sorted(columns)) or 'none'}; "
        f"expected {_SHAPES_HINT})"
    )


def prepare_dataset(data_dir: Path, config: DatasetConfig, root: Path) -> PreparedDataset:
    """Find, read, check, convert, shuffle and split the dataset.

    Raises:
        DatasetError: see :func:`find_dataset_files` and :func:`normalise_rows`; also when two
            files convert to different shapes.
        InputUnreadableError: a file cannot be parsed.
    """
    files = find_dataset_files(data_dir, config, root)
    kind: str | None = None
    first_file = files[0]
    all_rows: list[dict[str, Any]] = []
    for path in files:
        file_kind, rows = normalise_rows(read_rows(path, config.dataset_extension), path, config)
        if kind is None:
            kind = file_kind
        elif file_kind != kind:
            raise DatasetError(
                f"{path}: rows are {file_kind} but {first_file} holds {kind}; "
                "all dataset files of one run must have the same shape"
            )
        all_rows.extend(rows)
    assert kind is not None  # files is never empty
    import datasets

    dataset = datasets.Dataset.from_list(all_rows)
    if config.shuffle_dataset:
        dataset = dataset.shuffle(seed=config.shuffle_seed)
    eval_set = None
    if config.train_test_split < 1:
        n_train = int(len(dataset) * config.train_test_split)
        if n_train < 1 or n_train >= len(dataset):
            raise DatasetError(
                f"DatasetConfig.train_test_split {config.train_test_split} leaves no rows for "
                f"training or evaluation out of {len(dataset)}"
            )
        eval_set = dataset.select(range(n_train, len(dataset)))
        dataset = dataset.select(range(n_train))
    logger.info(
        "dataset: %d training rows%s (%s) from %s",
        len(dataset),
        f", {len(eval_set)} eval rows" if eval_set is not None else "",
        kind,
        ", ".join(str(f) for f in files),
    )
    return PreparedDataset(kind=kind, files=tuple(files), train=dataset, eval=eval_set)


def _normalise_format(name: str) -> str:
    fmt = name.lower().lstrip(".")
    if fmt not in FORMATS:
        raise DatasetError(
            f"DatasetConfig.dataset_extension '{name}' is not one of {', '.join(FORMATS)}"
        )
    return fmt


def _format_of(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in FORMATS else None


def _read_jsonl(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}: line {number} is not valid JSON: {exc.msg}") from exc


def _read_json(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        # Many ``.json`` datasets are really JSON Lines.
        return list(_read_jsonl(path))
    if isinstance(document, list):
        return document
    if isinstance(document, Mapping):
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
        return [document]
    raise DatasetError(f"{path}: expected a list of objects, got {type(document).__name__}")


def _read_arrow(path: Path) -> list[Any]:
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        try:
            table = pa.ipc.open_stream(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            table = pa.ipc.open_file(source).read_all()
    rows: list[Any] = table.to_pylist()
    return rows


def _check_messages(value: Any, path: Path, row: int, column: str) -> list[dict[str, Any]]:
    where = f"{path}: row {row}"
    if not isinstance(value, list) or not value:
        raise DatasetError(f"{where}: '{column}' must be a non-empty list of messages")
    messages: list[dict[str, Any]] = []
    has_answer = False
    for number, item in enumerate(value, start=1):
        if not isinstance(item, Mapping):
            raise DatasetError(f"{where}: message {number} is not an object")
        role = item.get("role")
        content = item.get("content")
        if role not in ROLES:
            raise DatasetError(
                f"{where}: message {number} has role {role!r} (expected one of "
                f"{', '.join(sorted(ROLES))})"
            )
        if not isinstance(content, str):
            raise DatasetError(f"{where}: message {number} has no text 'content'")
        if role == ASSISTANT_ROLE and content.strip():
            has_answer = True
        messages.append({"role": role, "content": content})
    if not has_answer:
        raise DatasetError(f"{where}: no assistant message with content to learn from")
    return messages


def _prompt_completion(
    row: Mapping[str, Any], path: Path, index: int, prompt_key: str, completion_key: str
) -> dict[str, Any]:
    prompt = row.get(prompt_key)
    completion = row.get(completion_key)
    if isinstance(prompt, list) and isinstance(completion, list):
        return {
            "prompt": _check_conversation(prompt, path, index, prompt_key),
            "completion": _check_messages(completion, path, index, completion_key),
        }
    if not isinstance(prompt, str):
        raise DatasetError(f"{path}: row {index}: '{prompt_key}' must be a string")
    return {"prompt": prompt, "completion": _required_text(row, completion_key, path, index)}


def _check_conversation(value: list[Any], path: Path, row: int, column: str) -> list[Any]:
    for number, item in enumerate(value, start=1):
        if not isinstance(item, Mapping) or item.get("role") not in ROLES:
            raise DatasetError(f"{path}: row {row}: '{column}' message {number} is malformed")
        if not isinstance(item.get("content"), str):
            raise DatasetError(f"{path}: row {row}: '{column}' message {number} has no content")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _instruction_row(
    row: Mapping[str, Any], path: Path, index: int, extra_key: str, answer_key: str
) -> dict[str, Any]:
    instruction = _required_text(row, "instruction", path, index)
    answer = _required_text(row, answer_key, path, index)
    extra = row.get(extra_key)
    if extra is not None and not isinstance(extra, str):
        raise DatasetError(f"{path}: row {index}: '{extra_key}' must be a string")
    user = f"{instruction}\n\n{extra.strip()}" if extra and extra.strip() else instruction
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": ASSISTANT_ROLE, "content": answer},
        ]
    }


def _required_text(row: Mapping[str, Any], key: str, path: Path, index: int) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        state = "missing" if value is None else "empty" if isinstance(value, str) else "not text"
        raise DatasetError(f"{path}: row {index}: '{key}' is {state}")
    return value
