"""kaito-py: a Python implementation of Kaito, the Kubernetes AI Toolchain Operator.

One package, three programs (ARCHITECTURE.md): the operator (control plane, no torch), the runtime
(``kaito-serve``, ``kaito-tune``, data fetch, OCI push/pull) and the CLI for humans.
"""

__version__ = "0.1.0"
