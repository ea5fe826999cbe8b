"""The runtime: the commands that run in pods and locally (serving, tuning, data, OCI artifacts).

Never imports the control plane (k8s, controller, operator); heavy ML libraries load lazily.
"""
