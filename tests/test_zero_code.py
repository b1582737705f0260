"""Zero-code: ``opentelemetry-instrument`` builds our exporters from OTEL_* variables and entry points, and the
WorldForgeInstrumentor captures a WorldForge app whose code never mentions us."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import column_values, entity_paths, needs_rerun, read_rrd

pytestmark = needs_rerun
INSTRUMENT = Path(sys.executable).parent / "opentelemetry-instrument"
if not INSTRUMENT.exists():
    pytest.skip("opentelemetry-instrument is not installed (extra: instrument)", allow_module_level=True)

TINY_APP = """
import logging
from opentelemetry import metrics, trace

tracer = trace.get_tracer("tiny")
requests = metrics.get_meter("tiny").create_counter("tiny.requests")
log = logging.getLogger("tiny.app")
with tracer.start_as_current_span("handle-request") as span:
    requests.add(3, {"route": "plan"})
    log.warning("planning took %d ms", 1234)
    with tracer.start_as_current_span("call-model"):
        pass
print("trace", format(span.get_span_context().trace_id, "032x"))
"""

WORLDFORGE_APP = """
from worldforge import Action, WorldForge

seen = []
forge = WorldForge(event_handler=seen.append)   # the app's own handler; no OpenTelemetry in sight
world = forge.create_world("lab", provider="mock")
world.predict(Action.move_to(0.3, 0.5, 0.0), steps=2)
world.predict(Action.move_to(0.1, 0.2, 0.0), steps=1)
print("app saw", len(seen), "events")
"""


def run_instrumented(tmp_path: Path, source: str, **env: str) -> subprocess.CompletedProcess:
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(source))
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROTEL_"))}
    result = subprocess.run(
        [str(INSTRUMENT), sys.executable, str(app)], cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**clean, "RERUN_ANALYTICS": "false", **env}, check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# Python logging reaches the logs exporters through opentelemetry-instrumentation-logging's handler (>= 0.61b0);
# before it (the oldest OpenTelemetry we support) only through the SDK's now deprecated switch.
LOGGING_TO_OTEL = ({} if importlib.util.find_spec("opentelemetry.instrumentation.logging.handler") else
                   {"OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true"})  # fmt: skip


def test_otel_traces_exporter_rerun_otlp_with_the_stock_distro(tmp_path, collector, jaeger):
    recording = tmp_path / "tiny.rrd"
    result = run_instrumented(
        tmp_path, TINY_APP,
        OTEL_SERVICE_NAME="tiny-app",
        OTEL_TRACES_EXPORTER="rerun,otlp",
        OTEL_METRICS_EXPORTER="rerun",
        OTEL_LOGS_EXPORTER="rerun",
        **LOGGING_TO_OTEL,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.grpc_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_RERUN_SAVE_PATH=str(recording),
    )
    trace_id = result.stdout.split()[-1]
    assert "LOGGING_AUTO_INSTRUMENTATION" not in result.stderr  # no deprecated SDK handler in the way
    frame = read_rrd(recording, index="worldforge_time", contents="/otel/**")
    paths = entity_paths(frame)
    assert {"/otel/spans/tiny-app/handle-request/log", "/otel/spans/tiny-app/call-model/log"} <= paths
    assert column_values(frame, "/otel/metrics/tiny-app/tiny.requests/route\\=plan", "Scalars:scalars")[-1] == 3.0
    (line,) = column_values(frame, "/otel/logs/tiny-app/tiny.app", "TextLog:text")
    assert line.startswith("planning took 1234 ms") and f"trace={trace_id}" in line
    assert column_values(frame, "/otel/logs/tiny-app/tiny.app", "TextLog:level") == ["WARN"]
    spans = jaeger.wait_for_spans(2)
    assert {span["operationName"] for span in spans} == {"handle-request", "call-model"}
    assert {span["traceID"] for span in spans} == {trace_id}
    logs = [p for p in paths if p.startswith("/otel/spans/") and p.endswith("/log")]
    texts = [text for path in logs for text in column_values(frame, path, "TextLog:text")]
    assert all(f"trace={trace_id} span={span['spanID']}" in " ".join(texts) for span in spans)


def test_a_bad_rerun_variable_under_opentelemetry_instrument_is_one_line_and_the_app_runs(tmp_path):
    result = run_instrumented(
        tmp_path, TINY_APP,
        OTEL_SERVICE_NAME="tiny-app", OTEL_TRACES_EXPORTER="rerun", OTEL_METRICS_EXPORTER="rerun",
        OTEL_LOGS_EXPORTER="none", OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT="not-a-port",
    )
    assert result.stderr.count("OTEL_EXPORTER_RERUN_SERVE_GRPC_PORT='not-a-port' is not a TCP port") == 1
    (recording,) = (tmp_path / ".worldforge" / "rerun").glob("*.rrd")  # the fallback file, one per process
    frame = read_rrd(recording, index="worldforge_time", contents="/otel/spans/**")
    assert "/otel/spans/tiny-app/handle-request/log" in entity_paths(frame)


worldforge_only = pytest.mark.skipif(sys.version_info < (3, 13), reason="worldforge-ai needs Python >= 3.13")


def run_worldforge_app(tmp_path: Path, recording: Path, **env: str) -> int:
    """Run the WorldForge app under opentelemetry-instrument; returns how many events its own handler saw."""
    pytest.importorskip("worldforge")
    result = run_instrumented(
        tmp_path, WORLDFORGE_APP, OTEL_SERVICE_NAME="wf-app", OTEL_TRACES_EXPORTER="rerun",
        OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none", OTEL_EXPORTER_RERUN_SAVE_PATH=str(recording), **env,
    )
    return int(result.stdout.split()[2])


@worldforge_only
@pytest.mark.worldforge
def test_a_worldforge_app_is_captured_without_code_changes(tmp_path):
    recording = tmp_path / "wf.rrd"
    seen = run_worldforge_app(tmp_path, recording)
    assert seen >= 2  # the app's own handler still gets every event
    frame = read_rrd(recording, index="worldforge_event", contents="/worldforge/**")
    assert len(column_values(frame, "/worldforge/events/mock/predict/success/log", "TextLog:text")) == seen


OWN_HANDLER_APP = """
from worldforge import Action, WorldForge
from worldforge.providers.mock import MockProvider

own, forge_saw = [], []
provider = MockProvider(name="own-mock", event_handler=own.append)   # a handler of its own, kept by register_provider
forge = WorldForge(event_handler=forge_saw.append)
forge.register_provider(provider)
forge.create_world("lab", provider="own-mock").predict(Action.move_to(0.3, 0.5, 0.0), steps=2)
forge.create_world("lab2", provider="mock").predict(Action.move_to(0.1, 0.2, 0.0), steps=1)
print("app saw", len(own), len(forge_saw))
"""


@worldforge_only
@pytest.mark.worldforge
def test_a_provider_registered_with_its_own_handler_is_captured_once_too(tmp_path):
    """``register_provider`` keeps a provider's own handler (the forge's never reaches it): its events are still
    recorded, after its own handler, and the forge's events are not recorded twice."""
    pytest.importorskip("worldforge")
    recording = tmp_path / "own.rrd"
    result = run_instrumented(tmp_path, OWN_HANDLER_APP, OTEL_SERVICE_NAME="wf-app", OTEL_TRACES_EXPORTER="rerun",
                              OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none",
                              OTEL_EXPORTER_RERUN_SAVE_PATH=str(recording))  # fmt: skip
    own, forge_saw = map(int, result.stdout.split()[2:4])
    assert own >= 1 and forge_saw >= 1
    frame = read_rrd(recording, index="worldforge_event", contents="/worldforge/events/**")
    counts = {path: len(column_values(frame, path, "TextLog:text")) for path in entity_paths(frame)
              if path.endswith("/log")}  # fmt: skip
    assert counts["/worldforge/events/own-mock/predict/success/log"] == own
    assert sum(counts.values()) == own + forge_saw, counts  # every event once


@worldforge_only
@pytest.mark.worldforge
def test_otel_python_disabled_instrumentations_skips_worldforge(tmp_path):
    recording = tmp_path / "off.rrd"
    assert run_worldforge_app(tmp_path, recording, OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="worldforge") >= 2
    assert recording.exists()  # the exporter ran; it just got no WorldForge spans
    with pytest.raises(Exception, match="worldforge_event"):  # no chunk has a worldforge_event timeline at all
        read_rrd(recording, index="worldforge_event", contents="/**")


CHILD_APP = """
    import subprocess, sys
    from opentelemetry import trace

    tracer = trace.get_tracer("app")
    child = "from opentelemetry import trace\\nwith trace.get_tracer('c').start_as_current_span('child work'): pass"
    with tracer.start_as_current_span("parent work"):
        subprocess.run([sys.executable, "-c", child], check=True)  # inherits the zero-code setup
    print("done")
"""


@needs_rerun
def test_a_child_python_process_writes_its_own_file_of_the_same_recording(tmp_path):
    """Under opentelemetry-instrument every Python child inherits the setup: two writers must never share a file."""
    from conftest import recording_ids

    recording = tmp_path / "run.rrd"
    run_instrumented(tmp_path, CHILD_APP, OTEL_SERVICE_NAME="parent-app", OTEL_TRACES_EXPORTER="rerun",
                     OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none",
                     OTEL_EXPORTER_RERUN_SAVE_PATH=str(recording))  # fmt: skip
    others = [path for path in tmp_path.glob("run-*.rrd")]
    from importlib.metadata import version

    if version("opentelemetry-instrumentation").startswith("0.60"):  # it took itself off the children's path
        assert others == [] and recording.exists()
        pytest.skip("opentelemetry-instrumentation 0.60 does not instrument child processes")
    assert recording.exists() and len(others) == 1, others  # run.rrd (the parent's) and run-<pid>.rrd (the child's)
    files = [recording, *others]
    for path in files:
        verify = subprocess.run([sys.executable, "-m", "rerun", "rrd", "verify", str(path)], capture_output=True,
                                text=True, timeout=60, check=False)  # fmt: skip
        assert verify.returncode == 0, verify.stderr  # both whole: footer, no corruption
    parent, child = (read_rrd(path, index="worldforge_time", contents="/otel/spans/**") for path in files)
    assert "/otel/spans/parent-app/parent_work/log" in entity_paths(parent)
    assert "/otel/spans/parent-app/child_work/log" in entity_paths(child)
    assert recording_ids(files[0])[0][1] == recording_ids(files[1])[0][1]  # one recording in the viewer


EXIT_APP = """
    import time
    from opentelemetry import trace

    tracer = trace.get_tracer("app")
    for i in range(50):
        with tracer.start_as_current_span(f"request {i % 5}"):
            with tracer.start_as_current_span("db"):
                pass
    print(f"done {time.time()}")  # the app's work ends here; the rest is exit
"""


@needs_rerun
def test_a_dead_otlp_collector_never_costs_the_recording_nor_much_exit_time(tmp_path, report):
    """The README's no-code line, 20 times, with nothing listening on the OTLP endpoint (10 runs with the default
    endpoint, 10 with a closed port), on an app that never imports us: every run exits 0 (no abort) with a whole
    recording holding every span, and exit takes at most 2 s longer than the same app exporting to OTLP alone
    (20 runs of that too, side by side)."""
    import statistics
    import time
    from concurrent.futures import ThreadPoolExecutor

    from otlp_backend import free_port

    def timed(run: int, ours: bool) -> float:
        """Seconds the process took to exit after the app's last line (start-up, imports included, are not exit)."""
        endpoint = {} if run % 2 else {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
        exporters = ({"OTEL_TRACES_EXPORTER": "rerun,otlp", "OTEL_METRICS_EXPORTER": "rerun",
                      "OTEL_EXPORTER_RERUN_SAVE_PATH": str(tmp_path / f"run{run}.rrd")} if ours else
                     {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "none"})  # fmt: skip
        directory = tmp_path / f"{'ours' if ours else 'alone'}{run}"
        directory.mkdir()
        result = run_instrumented(directory, EXIT_APP, OTEL_SERVICE_NAME="exit-app", OTEL_LOGS_EXPORTER="none",
                                  **endpoint, **exporters)  # asserts exit code 0 (no abort)  # fmt: skip
        return time.time() - float(result.stdout.split()[-1])

    runs = 20
    jobs = [(run, kind) for run in range(runs) for kind in (True, False)]  # interleaved: both see the same machine
    with ThreadPoolExecutor(max_workers=4) as pool:
        took = list(pool.map(lambda job: timed(*job), jobs))
    ours = [seconds for (_, kind), seconds in zip(jobs, took, strict=True) if kind]
    alone = [seconds for (_, kind), seconds in zip(jobs, took, strict=True) if not kind]
    for run in range(runs):
        recording = tmp_path / f"run{run}.rrd"
        verify = subprocess.run([sys.executable, "-m", "rerun", "rrd", "verify", str(recording)],
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert verify.returncode == 0, verify.stderr  # the footer is there
        frame = read_rrd(recording, index="worldforge_time", contents="/otel/spans/**")
        lines = sum(len(column_values(frame, path, "TextLog:text")) for path in entity_paths(frame)
                    if path.endswith("/log"))  # fmt: skip
        assert lines == 100, run  # every span, the last batch included
    assert statistics.median(ours) <= statistics.median(alone) + 2.0, (ours, alone)
    report(events_in=100 * runs, events_out=100 * runs, dropped=0,
           note=f"README no-code line, OTLP endpoint down (10 runs default endpoint, 10 a closed port): 20 of 20 exit 0"
                f" and verify with all 100 spans; exit {statistics.median(ours):.1f} s median (max {max(ours):.1f}) vs "
                f"{statistics.median(alone):.1f} s (max {max(alone):.1f}) for the same app exporting to OTLP alone")


SIGTERM_APP = """
    import sys
    from wsgiref.simple_server import WSGIRequestHandler, make_server
    from opentelemetry import trace

    tracer = trace.get_tracer("app")

    def app(environ, start_response):
        with tracer.start_as_current_span("GET " + environ["PATH_INFO"].rsplit("/", 1)[0]):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass

    server = make_server("127.0.0.1", int(sys.argv[1]), app, handler_class=Quiet)
    print("ready", flush=True)
    server.serve_forever()  # a plain WSGI server, no handler of its own for SIGTERM
"""


@needs_rerun
def test_sigterm_right_after_the_last_request_keeps_every_span_and_a_whole_file(tmp_path, report):
    """What docker stop and Kubernetes send: the spans still queued are written and the file closed, then the
    process ends by the signal as it would have."""
    import signal
    import textwrap

    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(SIGTERM_APP))
    recording = tmp_path / "server.rrd"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROTEL_"))}
    env = {**clean, "RERUN_ANALYTICS": "false", "OTEL_SERVICE_NAME": "server", "OTEL_TRACES_EXPORTER": "rerun",
           "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none",
           "OTEL_EXPORTER_RERUN_SAVE_PATH": str(recording)}  # fmt: skip
    import urllib.request

    from otlp_backend import free_port

    port = free_port()
    process = subprocess.Popen([str(INSTRUMENT), sys.executable, str(app), str(port)], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    for i in range(321):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/items/{i % 7}", timeout=30) as response:
            assert response.read() == b"ok"
    process.send_signal(signal.SIGTERM)  # right after the last request's answer
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGTERM, stderr  # ended by the signal, as without us
    verify = subprocess.run([sys.executable, "-m", "rerun", "rrd", "verify", str(recording)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    frame = read_rrd(recording, index="worldforge_time", contents="/otel/spans/**")
    logs = [path for path in entity_paths(frame) if path.endswith("/log")]
    lines = sum(len(column_values(frame, path, "TextLog:text")) for path in logs)
    assert lines == 321  # every span (the batch processor still held them: its delay is 5 s)
    report(events_in=321, events_out=321, dropped=0,
           note="SIGTERM to a zero-code WSGI server (wsgiref) right after its 321st answered request: all 321 spans "
                "in the file, which verifies; the process then ends by the signal, as without us")
