"""``OTEL_EXPORTER_RERUN_*``: the settings the Rerun exporters read when built with no arguments.

This module is registered under the ``opentelemetry_environment_variables`` entry point, as OTel's own
exporters register theirs. Each variable has a keyword twin, the :class:`~worldforge_otel.RerunOptions`
field of the same name; a keyword given in code wins over the variable, the variable over the default.
"""

from __future__ import annotations

from typing import Final

OTEL_EXPORTER_RERUN_SAVE_PATH: Final = "OTEL_EXPORTER_RERUN_SAVE_PATH"
"""
.. envvar:: OTEL_EXPORTER_RERUN_SAVE_PATH

``.rrd`` file to write (``RerunOptions.save_path``). Default, when no destination is set at all:
``.worldforge/rerun/worldforge-otel-<time>-<pid>.rrd``.
"""

OTEL_EXPORTER_RERUN_CONNECT_URL: Final = "OTEL_EXPORTER_RERUN_CONNECT_URL"
"""
.. envvar:: OTEL_EXPORTER_RERUN_CONNECT_URL

Stream to a running viewer, e.g. ``rerun+http://127.0.0.1:9876/proxy`` (``RerunOptions.connect_url``).
"""

OTEL_EXPORTER_RERUN_SPAWN: Final = "OTEL_EXPORTER_RERUN_SPAWN"
"""
.. envvar:: OTEL_EXPORTER_RERUN_SPAWN

``true`` starts a Rerun viewer and streams to it (``RerunOptions.spawn``). Default ``false``.
"""

OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT: Final = "OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT"
"""
.. envvar:: OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT

Serve the recording over gRPC on this port for viewers to connect to (``RerunOptions.serve_grpc_port``).
"""

OTEL_EXPORTER_RERUN_APPLICATION_ID: Final = "OTEL_EXPORTER_RERUN_APPLICATION_ID"
"""
.. envvar:: OTEL_EXPORTER_RERUN_APPLICATION_ID

Rerun application id (``RerunOptions.application_id``). Default ``worldforge``.
"""

OTEL_EXPORTER_RERUN_RECORDING_ID: Final = "OTEL_EXPORTER_RERUN_RECORDING_ID"
"""
.. envvar:: OTEL_EXPORTER_RERUN_RECORDING_ID

Rerun recording id (``RerunOptions.recording_id``); processes sharing one merge in the viewer. Default: random.
"""

OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT: Final = "OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT"
"""
.. envvar:: OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT

Seconds to wait for flushing and closing the recording at shutdown (``RerunOptions.shutdown_timeout_secs``).
Default ``5``.
"""

ALL: Final = (
    OTEL_EXPORTER_RERUN_SAVE_PATH,
    OTEL_EXPORTER_RERUN_CONNECT_URL,
    OTEL_EXPORTER_RERUN_SPAWN,
    OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT,
    OTEL_EXPORTER_RERUN_APPLICATION_ID,
    OTEL_EXPORTER_RERUN_RECORDING_ID,
    OTEL_EXPORTER_RERUN_SHUTDOWN_TIMEOUT,
)
