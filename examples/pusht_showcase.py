"""The PushT showcase: a robotics planning run seen in Rerun and in any OTel backend, fully offline.

Same code as ``worldforge-otel pusht``; same flags::

    python examples/pusht_showcase.py                                   # .worldforge/rerun/worldforge-otel-pusht.rrd
    python examples/pusht_showcase.py --rerun-spawn --steps 60          # watch it live
    python examples/pusht_showcase.py --otlp-endpoint http://127.0.0.1:4317   # and the same trace in Jaeger

Needs ``pip install 'worldforge-otel[rerun,pusht]'`` (add ``otlp`` for ``--otlp-endpoint``; with
``worldforge`` on Python >= 3.13 the policy and score run as real WorldForge capability providers).
The loop itself is :func:`worldforge_otel.pusht.run.run_showcase`; see docs/pusht-showcase.md.
"""

from __future__ import annotations

import sys

from worldforge_otel.cli import main

if __name__ == "__main__":
    sys.exit(main(["pusht", *sys.argv[1:]]))
