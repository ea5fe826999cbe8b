"""Print how many of upstream's documents and validation cases get upstream's verdict from us.

Usage: ``python scripts/upstream_agreement.py [-v]`` from the repository root. The examples count
needs the upstream mirror (``$KAITO_UPSTREAM_MIRROR``); the validation cases are checked in.
``-v`` lists each disagreement with our errors. The same functions back
``tests/unit/api/test_upstream_agreement.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fixtures import upstream
from tests.fixtures.upstream_verdicts import Verdict, case_verdicts, example_verdicts


def _report(what: str, results: list[Verdict], verbose: bool) -> None:
    agree = sum(r.agrees for r in results)
    print(f"{what}: {agree} / {len(results)} agree")
    if verbose:
        for r in results:
            if not r.agrees:
                print(f"  {r.source}: upstream {r.upstream}, ours {r.ours}: {r.errors}")


def main(argv: list[str]) -> int:
    """Print both counts; exit 0."""
    verbose = "-v" in argv
    if upstream.mirror() is None:
        print("upstream examples: no mirror (set KAITO_UPSTREAM_MIRROR)")
    else:
        _report("upstream examples", example_verdicts(), verbose)
    _report("upstream validation cases", case_verdicts(), verbose)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
