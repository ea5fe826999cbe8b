"""``make demo``: fine-tune SmolLM2-135M on the bundled dataset and compare answers before/after.

A thin wrapper over :mod:`kaito.local.demo` (see its docstring); run from the repository root.
"""

import sys

from kaito.local.demo import main

if __name__ == "__main__":
    sys.exit(main())
