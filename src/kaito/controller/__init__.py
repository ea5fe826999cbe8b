"""Reconcile: plan, apply, observe, status; node provisioners. Talks to the cluster only via k8s.

Modules: ``reconcile`` (the entry point), ``provisioners`` (gpu-provisioner, karpenter, byo),
``workloads`` (Services, StatefulSet, Job), ``status`` and ``failures`` (pure status rules),
``context`` and ``errors``.
"""
