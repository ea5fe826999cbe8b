"""The only package that speaks the Kubernetes API (client factory, apply helpers, errors).

Modules: ``resources`` (the kinds we use), ``client`` (``Cluster``: dicts in, dicts out, over
lightkube), ``apply`` (idempotent writes), ``events`` (Kubernetes Events) and ``errors``.
"""
