"""Benchmark the presets layer: catalog load, preset lookups, estimator, engine flags, CLI start.

Run: ``.venv/bin/python bench/presets.py``. Pure CPU work; prints one line per measurement. The
catalog is loaded once per process (functools.cache), so the load is timed in a fresh interpreter.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from kaito.presets import catalog, engine_args, estimator, skus

REPEATS = 5


def per_call_us(func: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(func, number=number, repeat=REPEATS))
    return best / number * 1e6


def fresh_process_ms(code: str) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def unknown_lookup() -> None:
    with contextlib.suppress(catalog.UnknownPresetError):
        catalog.get_model("phi3-mini")


def main() -> None:
    baseline = fresh_process_ms("import kaito.presets.catalog, kaito.presets.skus")
    loaded = fresh_process_ms(
        "from kaito.presets import catalog, skus; catalog.load_catalog(); skus.list_skus()"
    )
    print(f"catalog + SKU YAML load (fresh process, minus import): {loaded - baseline:.1f} ms")

    catalog.load_catalog()
    print(
        f"get_model, catalog hit: {per_call_us(lambda: catalog.get_model('PHI-4'), 100_000):.2f} us"
    )
    print(
        "get_model, best-effort org/repo: "
        f"{per_call_us(lambda: catalog.get_model('someorg/some-model'), 100_000):.2f} us"
    )
    print(f"get_model, unknown name with suggestions: {per_call_us(unknown_lookup, 200):.0f} us")

    model = catalog.get_model("llama-3.3-70b-instruct")
    gpu = skus.get_sku("Standard_NC24ads_A100_v4")
    assert gpu is not None
    estimate_us = per_call_us(lambda: estimator.estimate_nodes(model, gpu), 100_000)
    print(f"estimate_nodes: {estimate_us:.2f} us")
    flags_us = per_call_us(
        lambda: engine_args.build_vllm_args(model, gpu, 3, served_model_name="m"), 20_000
    )
    print(f"build_vllm_args (3 nodes): {flags_us:.2f} us")
    every = [config for cloud in skus.SUPPORTED_CLOUDS for config in skus.list_skus(cloud)]
    models = catalog.list_models()

    def sweep() -> None:
        for spec in models:
            for config in every:
                with contextlib.suppress(estimator.EstimateError):
                    estimator.estimate_nodes(spec, config)

    start = time.perf_counter()
    sweep()
    elapsed = time.perf_counter() - start
    print(
        f"full sweep: {len(models)} presets x {len(every)} SKUs = {len(models) * len(every)} "
        f"estimates in {elapsed * 1e3:.1f} ms"
    )

    kaito = [str(Path(sys.executable).with_name("kaito"))]
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        subprocess.run(
            [*kaito, "estimate", "--preset", "phi-4", "--instance-type", "Standard_NC6s_v3"],
            check=True,
            capture_output=True,
        )
        best = min(best, time.perf_counter() - start)
    print(f"`kaito estimate` end to end (fresh process): {best * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
