"""The operator process: Kopf handlers, work queue, webhook, metrics and probes, leader election.

``runner.Operator`` assembles it; ``handlers`` maps watch events to Workspace keys;
``webhook`` runs the shared validation; ``settings`` reads flags and environment.
"""
