"""``python -m kaito.operator``: run the operator with settings from the environment."""

from __future__ import annotations

from kaito.operator.runner import run_forever
from kaito.operator.settings import OperatorSettings

if __name__ == "__main__":
    run_forever(OperatorSettings())
