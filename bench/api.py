"""Benchmark the API layer: parse, admission validation, URL policy, CRD generation, kaito validate.

Run: ``.venv/bin/python bench/api.py``. Pure CPU work; prints one line per measurement (best of 5).
The webhook pays parse + validate per admission request, so those are the numbers that matter.
"""

from __future__ import annotations

import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

import yaml

from kaito.api import addresses, crd
from kaito.api.workspace import parse_workspace
from kaito.presets import catalog, mig, skus
from kaito.validation import StaticClusterLookup, ValidationContext, check_workspace

REPEATS = 5
ROOT = Path(__file__).resolve().parents[1]


def per_call_us(func: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(func, number=number, repeat=REPEATS))
    return best / number * 1e6


def main() -> None:
    docs = [
        doc
        for path in sorted((ROOT / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "Workspace"
    ]
    ctx = ValidationContext(
        models=catalog, skus=skus, mig=mig, lookup=StaticClusterLookup(), node_provisioner=None
    )
    workspaces = [parse_workspace(d) for d in docs]
    catalog.get_model("phi-4")  # load the catalog outside the timings

    def parse_all() -> None:
        for d in docs:
            parse_workspace(d)

    def validate_all() -> None:
        for ws in workspaces:
            check_workspace(ws, ctx)

    n = len(docs)
    parse_us = per_call_us(parse_all, 200) / n
    validate_us = per_call_us(validate_all, 200) / n
    print(f"parse_workspace, per document ({n} examples): {parse_us:.1f} us")
    print(f"check_workspace, per document ({n} examples): {validate_us:.1f} us")
    url = "https://huggingface.co/datasets/x/resolve/main/train.parquet?download=true"
    url_us = per_call_us(lambda: addresses.check_data_url(url), 5000)
    print(f"check_data_url, public URL: {url_us:.1f} us")
    print(f"build_workspace_crd: {per_call_us(crd.build_workspace_crd, 20) / 1000:.1f} ms")
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "kaito"), "validate", "-f", str(ROOT / "examples")],
            check=False,
            capture_output=True,
        )
        best = min(best, time.perf_counter() - start)
    print(f"kaito validate -f examples/ ({n} Workspaces), fresh process: {best:.2f} s")


if __name__ == "__main__":
    main()
