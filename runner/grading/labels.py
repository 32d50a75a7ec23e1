"""The labels on everything assess creates (containers, images, networks, volumes).

``assess.managed=true`` marks ours; the run, the role in the pod, the owner's pid and host let
``collect_garbage`` remove what a killed run left, and only that.
"""

from __future__ import annotations

LABEL_MANAGED = "assess.managed"
LABEL_RUN = "assess.run"
LABEL_ROLE = "assess.role"
LABEL_PID = "assess.owner-pid"
LABEL_HOST = "assess.owner-host"
