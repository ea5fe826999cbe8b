"""Pure builders of the Kubernetes objects the operator creates for a Workspace.

Every function here takes a Workspace plus small frozen settings/plan values and returns plain dicts
(Kubernetes JSON), with no I/O: the controller applies them, ``kaito render`` prints them, and the
golden tests pin them. ``render.build_all`` lists everything one Workspace produces.
"""
