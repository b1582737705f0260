"""The PushT showcase: a robotics planning run on gym-pusht's physics, seen in Rerun and any OTel backend.

``worldforge-otel pusht`` (and ``examples/pusht_showcase.py``) runs :func:`~.run.run_showcase`; needs the
``pusht`` extra. Modules: :mod:`.task` (the physics), :mod:`.planner` (policy and score models),
:mod:`.results` and :mod:`.capabilities` (WorldForge capability calls), :mod:`.run` (the loop and its
telemetry), :mod:`.report` (the terminal).
"""
