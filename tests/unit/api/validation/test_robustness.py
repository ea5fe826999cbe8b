"""Validation never raises for bad input: random mutations of the examples only produce reports."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from kaito.api import constants
from kaito.api.workspace import WorkspaceParseError, dump_workspace, parse_workspace, to_v1beta1
from kaito.validation import NodeInfo, StaticClusterLookup, ValidationContext, check_workspace

EXAMPLES = Path(__file__).resolve().parents[4] / "examples"
DOCS = [
    doc
    for path in sorted(EXAMPLES.glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if isinstance(doc, dict) and doc.get("kind") == "Workspace"
]
ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    "x" * 300,
    "Bad_Name",
    0,
    -1,
    3.5,
    True,
    [],
    {},
    ["a"],
    {"a": 1},
    "http://127.0.0.1/",
    "nan",
    "inf",
    "1e309",
    "phi-2",
    "org/repo",
    "../..",
    "\x00",
    "Standard_N",
    "mig",
    "accelerator",
    "1g.10gb",
    "9" * 5000,
    "lora",
    "QLORA",
    "transformers",
]
EXTRA_KEYS = [
    "partition",
    "template",
    "adapters",
    "config",
    "strength",
    "urls",
    "image",
    "volumeSource",
    "count",
    "preset",
    "method",
    "annotations",
]


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))
    if path:
        yield path


def _mutate(rng: random.Random) -> dict[str, Any]:
    doc = copy.deepcopy(rng.choice(DOCS))
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(list(_paths(doc)))
        node = doc
        for key in path[:-1]:
            node = node[key]
        value = rng.choice(ODD_VALUES)
        if isinstance(node, dict) and rng.random() < 0.2:
            node[rng.choice(EXTRA_KEYS)] = value
        else:
            node[path[-1]] = value
    return doc


def test_random_mutations_yield_reports_never_exceptions() -> None:
    rng = random.Random(20261122)
    contexts = [
        ValidationContext(node_provisioner=None, lookup=StaticClusterLookup()),
        ValidationContext(
            node_provisioner=constants.NODE_PROVISIONER_BYO,
            feature_gates={"enableMIG": True, "enableAccelerator": True, "ModelStreaming": True},
            lookup=StaticClusterLookup(
                {}, nodes=[NodeInfo("n", {"apps": "x"})], csi_drivers=[], authoritative=True
            ),
            resolver=lambda host: ["10.0.0.1"],
        ),
    ]
    parsed = 0
    for _ in range(600):
        doc = _mutate(rng)
        try:
            ws = parse_workspace(doc)
        except WorkspaceParseError:
            continue
        parsed += 1
        assert parse_workspace(dump_workspace(ws)) == ws  # wire round trip is lossless
        old = parse_workspace(rng.choice(DOCS))
        for ctx in contexts:
            check_workspace(ws, ctx)
            check_workspace(ws, ctx, old)
    assert parsed > 50


def test_empty_required_objects_survive_round_trip_and_conversion() -> None:
    doc = {
        "apiVersion": "kaito.sh/v1alpha1",
        "kind": "Workspace",
        "metadata": {"name": "w"},
        "resource": {"labelSelector": {}},
        "tuning": {"method": "lora", "input": {}, "output": {}},
    }
    ws = parse_workspace(doc)
    wire = dump_workspace(ws)
    assert wire["resource"]["labelSelector"] == {}
    assert wire["tuning"]["input"] == {}
    assert dump_workspace(to_v1beta1(ws))["tuning"]["output"] == {}
