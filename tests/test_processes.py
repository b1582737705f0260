"""Every process records, none corrupts another's file: forked children (gunicorn and uvicorn workers,
``multiprocessing``, ``os.fork``) write files of their own beside the parent's, under the parent's recording id.

Each test starts the real thing (a gunicorn or uvicorn server answering real HTTP requests, real ``multiprocessing``
children), then reads every file back decoded and has ``rerun rrd verify`` check it whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import column_values, entity_paths, needs_rerun, read_rrd, recording_ids
from otlp_backend import free_port, wait_for_port

pytestmark = needs_rerun
EVENTS_LOG = "/worldforge/events/mock/predict/success/log"
BIN = Path(sys.executable).parent
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ROTEL_"))}
RUN_ENV = {**CLEAN_ENV, "RERUN_ANALYTICS": "false"}


def verified(paths: list[Path]) -> list[Path]:
    """``paths``, after ``rerun rrd verify`` found each whole (footer written, nothing corrupt)."""
    assert paths, "no recording was written"
    for path in paths:
        check = subprocess.run([sys.executable, "-m", "rerun", "rrd", "verify", str(path)], capture_output=True,
                               text=True, timeout=60, check=False)  # fmt: skip
        assert check.returncode == 0, f"{path.name}: {check.stderr[-2000:]}"
    return paths


def event_lines(path: Path) -> list[str]:
    """The provider events' log lines a recording holds."""
    try:
        frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
    except Exception:  # no chunk with that timeline: a file with no events (a pre-fork master's)
        return []
    return [str(text) for text in column_values(frame, EVENTS_LOG, "TextLog:text")] if EVENTS_LOG in \
        entity_paths(frame) else []  # fmt: skip


def request_spans(path: Path) -> int:
    """How many request spans (named ``GET <route>``) a recording holds: one log row each."""
    try:
        frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/**")
    except Exception:  # no span at all (a pre-fork master's file)
        return 0
    return sum(len(column_values(frame, entity, "TextLog:text")) for entity in entity_paths(frame)
               if entity.endswith("/log") and "/GET" in entity)  # fmt: skip


def one_recording(paths: list[Path]) -> None:
    """All files carry one recording id: the viewer merges them into one recording."""
    assert len({recording_ids(path)[0][1] for path in paths}) == 1, [recording_ids(p) for p in paths]


def get(port: int, count: int, prefix: str = "/plan") -> set[str]:
    """``count`` requests; returns the pids of the workers that answered."""
    answered = set()
    for i in range(count):
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{prefix}/{i}", timeout=30) as response:
            answered.add(response.read().decode())
    return answered


def stop(server: subprocess.Popen, signum: int = signal.SIGTERM) -> str:
    server.send_signal(signum)
    try:
        _, stderr = server.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        _, stderr = server.communicate()
        pytest.fail(f"the server did not stop: {stderr[-3000:]}")
    return stderr


# -- multiprocessing and os.fork --------------------------------------------------------------------------

FORKING_APP = """
    import multiprocessing, os, sys
    import worldforge_otel
    from worldforge_otel.demo import DemoEvent

    telemetry = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path=sys.argv[1]))

    def emit(count):
        for i in range(count):
            telemetry(DemoEvent("mock", "predict", "success", duration_ms=1.0, target=f"pid{os.getpid()}/{i}"))
        return os.getpid()

    if __name__ == "__main__":
        emit(10)
        fork = multiprocessing.get_context("fork")
        child = fork.Process(target=emit, args=(7,))   # ends with os._exit: no atexit in there
        child.start()
        child.join()
        with fork.Pool(2) as pool:                     # workers ended by SIGTERM from Pool.terminate()
            workers = set(pool.map(emit, [3] * 8))
        pid = os.fork()
        if pid == 0:
            emit(5)
            sys.exit(0)                                 # a plain fork ending through the interpreter's exit
        os.waitpid(pid, 0)
        spawned = multiprocessing.get_context("spawn").Process(target=emit, args=(4,))
        spawned.start()                                 # a fresh interpreter: configure() runs again on import
        spawned.join()
        emit(10)
        print("sent", 10 + 7 + 24 + 5 + 4 + 10, "children", child.exitcode, spawned.exitcode, len(workers))
"""


def test_multiprocessing_and_os_fork_children_each_write_their_own_file(tmp_path, report):
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(FORKING_APP))
    recording = tmp_path / "run.rrd"
    result = subprocess.run([sys.executable, str(app), str(recording)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=180, env=RUN_ENV, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    sent = int(result.stdout.split()[1])
    files = verified(sorted(tmp_path.glob("run*.rrd")))
    lines = {path.name: event_lines(path) for path in files}
    assert len(event_lines(recording)) == 20  # the parent's own, before and after its children ran
    assert sum(map(len, lines.values())) == sent, {name: len(found) for name, found in lines.items()}
    for path in files:  # each file holds one process's events only
        assert len({line.split("pid", 1)[1].split("/")[0] for line in event_lines(path)}) <= 1, path.name
    one_recording(files)
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    report(events_in=sent, events_out=sent, dropped=0,
           note=f"multiprocessing (fork: a Process ending with os._exit, a Pool ended by terminate(); spawn) and "
                f"os.fork: {len(files)} files, one per process that emitted, all verified, one recording id; every "
                "event in its process's file")


def test_a_fork_under_load_never_hangs_the_child(tmp_path, report):
    """Four threads emit without pause while the process forks 100 times: every child records and shuts down
    within its deadline (a lock held at the fork would hang it)."""
    script = tmp_path / "forks.py"
    script.write_text(textwrap.dedent("""
        import os, sys, threading, time
        import worldforge_otel
        from worldforge_otel.demo import DemoEvent

        telemetry = worldforge_otel.configure(
            rerun=worldforge_otel.RerunOptions(save_path=sys.argv[1]), set_global_providers=False)
        running = True

        def load():
            while running:
                telemetry(DemoEvent("mock", "predict", "success", duration_ms=1.0))
                time.sleep(0.0002)

        threads = [threading.Thread(target=load) for _ in range(4)]
        for thread in threads:
            thread.start()
        failed = hung = 0
        for wave in range(10):
            children = []
            for _ in range(10):
                pid = os.fork()
                if pid == 0:
                    for i in range(5):
                        telemetry(DemoEvent("mock", "predict", "success", duration_ms=2.0))
                    flushed = telemetry.force_flush(10_000)
                    telemetry.shutdown(10_000)
                    os._exit(0 if flushed else 3)
                children.append(pid)
            deadline = time.monotonic() + 30
            for pid in children:
                while True:
                    done, status = os.waitpid(pid, os.WNOHANG)
                    if done:
                        failed += os.waitstatus_to_exitcode(status) != 0
                        break
                    if time.monotonic() > deadline:
                        os.kill(pid, 9)
                        os.waitpid(pid, 0)
                        hung += 1
                        break
                    time.sleep(0.01)
        running = False
        for thread in threads:
            thread.join()
        telemetry.shutdown()
        print("forks", 100, "failed", failed, "hung", hung)
    """))
    recording = tmp_path / "load.rrd"
    result = subprocess.run([sys.executable, str(script), str(recording)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=400, env=RUN_ENV, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-4:] == ["failed", "0", "hung", "0"], result.stdout
    children = sorted(tmp_path.glob("load-*.rrd"))
    assert len(children) == 100
    for path in children[::10]:  # each child's own file: its five events, whole
        verified([path])
        assert len(event_lines(path)) == 5, path.name
    report(events_in=500, events_out=500, dropped=0,
           note="100 forks while 4 threads emit without pause: no child hangs, every child flushes within its "
                "deadline and writes its 5 events to its own file (10 of them read back and verified)")


# -- pre-fork servers ----------------------------------------------------------------------------------------

PRELOADED_WSGI_APP = """
    import os
    import worldforge_otel
    from worldforge_otel.demo import DemoEvent

    telemetry = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path=os.environ["RECORDING"]))

    def app(environ, start_response):
        telemetry(DemoEvent("mock", "predict", "success", duration_ms=3.0, target=environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [str(os.getpid()).encode()]
"""

ZERO_CODE_WSGI_APP = """
    import os
    from opentelemetry import trace

    tracer = trace.get_tracer("wsgi-app")

    def app(environ, start_response):
        with tracer.start_as_current_span("GET " + environ["PATH_INFO"].rsplit("/", 1)[0]):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [str(os.getpid()).encode()]
"""

ZERO_CODE_ENV = {"OTEL_SERVICE_NAME": "web", "OTEL_TRACES_EXPORTER": "rerun", "OTEL_METRICS_EXPORTER": "rerun",
                 "OTEL_LOGS_EXPORTER": "none"}  # fmt: skip


def serve(tmp_path: Path, source: str, command: list[str], **env: str) -> tuple[subprocess.Popen, int]:
    (tmp_path / "app.py").write_text(textwrap.dedent(source))
    port = free_port()
    server = subprocess.Popen([part.replace("PORT", str(port)) for part in command], cwd=tmp_path,
                              env={**RUN_ENV, **env}, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    wait_for_port(port, timeout=60, process=server)
    return server, port


def every_request_recorded(server: subprocess.Popen, port: int, files: str, *, requests: int,
                           signum: int = signal.SIGTERM) -> list[Path]:  # fmt: skip
    """Send ``requests`` requests, stop the server, and check its recordings (the ``files`` glob, once it stopped):
    each file whole, one recording id, and every request's span in one of them. Returns the files."""
    get(port, requests)
    stderr = stop(server, signum)
    directory, pattern = Path(files).parent, Path(files).name
    found = verified(sorted(directory.glob(pattern)))
    assert sum(map(request_spans, found)) == requests, stderr[-3000:]
    one_recording(found)
    return found


def gunicorn(*options: str) -> list[str]:
    pytest.importorskip("gunicorn")
    return [str(BIN / "gunicorn"), *options, "--bind", "127.0.0.1:PORT", "--graceful-timeout", "20", "app:app"]


def test_gunicorn_preload_every_worker_records_every_request(tmp_path, report):
    """``configure()`` at import in the master (``--preload``), two forked workers: every request's event is in a
    worker's own file, and the master's file stays whole."""
    recording = tmp_path / "wsgi.rrd"
    server, port = serve(tmp_path, PRELOADED_WSGI_APP, gunicorn("--preload", "-w", "2"), RECORDING=str(recording))
    get(port, 40)
    stderr = stop(server)
    assert server.returncode == 0, stderr[-3000:]
    files = verified(sorted(tmp_path.glob("wsgi*.rrd")))
    assert len(files) >= 2  # the master's and at least one worker's
    targets = sorted(line for path in files for line in event_lines(path))
    assert len(targets) == 40, stderr[-3000:]
    assert event_lines(recording) == []  # the master handled no request
    one_recording(files)
    report(events_in=40, events_out=40, dropped=0,
           note=f"gunicorn --preload -w 2, configure() at import in the master: all 40 requests' events in the "
                f"workers' own files ({len(files)} files with the master's, all verified, one recording id)")


@pytest.mark.parametrize("preload", [False, True], ids=["plain", "preload"])
def test_gunicorn_under_zero_code_every_worker_records_every_span(tmp_path, report, preload):
    """``opentelemetry-instrument gunicorn [--preload] -w 2``: the SDK is set up in the master, the workers are
    forked (with ``--preload`` after the master imported the app)."""
    instrument = BIN / "opentelemetry-instrument"
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument is not installed (extra: instrument)")
    recording = tmp_path / "web.rrd"
    options = ("--preload", "-w", "2") if preload else ("-w", "2")
    server, port = serve(tmp_path, ZERO_CODE_WSGI_APP, [str(instrument), *gunicorn(*options)], **ZERO_CODE_ENV,
                         OTEL_EXPORTER_RERUN_SAVE_PATH=str(recording))  # fmt: skip
    files = every_request_recorded(server, port, str(tmp_path / "web*.rrd"), requests=200)
    assert server.returncode == 0
    report(events_in=200, events_out=200, dropped=0,
           note=f"opentelemetry-instrument gunicorn {' '.join(options)}: all 200 request spans in the workers' files "
                f"({len(files)} files, all verified, one recording id)")


ASGI_APP = """
    import os
    from opentelemetry import trace

    tracer = trace.get_tracer("asgi-app")

    async def app(scope, receive, send):
        assert scope["type"] == "http"
        with tracer.start_as_current_span("GET " + scope["path"].rsplit("/", 1)[0]):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": str(os.getpid()).encode()})
"""


def test_uvicorn_workers_under_zero_code_each_record(tmp_path, report):
    """``opentelemetry-instrument uvicorn --workers 2``: uvicorn *spawns* its workers; each sets itself up from the
    inherited environment and writes its own file of the same recording."""
    from importlib.metadata import version

    instrument = BIN / "opentelemetry-instrument"
    if not instrument.exists():
        pytest.skip("opentelemetry-instrument is not installed (extra: instrument)")
    if version("opentelemetry-instrumentation").startswith("0.60"):
        pytest.skip("opentelemetry-instrumentation 0.60 does not instrument child processes (uvicorn's workers)")
    recording = tmp_path / "asgi.rrd"
    command = [str(instrument), str(BIN / "uvicorn"), "app:app", "--workers", "2", "--port", "PORT", "--lifespan",
               "off", "--host", "127.0.0.1"]  # fmt: skip
    server, port = serve(tmp_path, ASGI_APP, command, **ZERO_CODE_ENV, OTEL_EXPORTER_RERUN_SAVE_PATH=str(recording))
    time.sleep(2.0)  # both workers up (the port answers as soon as the first one listens)
    files = every_request_recorded(server, port, str(tmp_path / "asgi*.rrd"), requests=100, signum=signal.SIGINT)
    report(events_in=100, events_out=100, dropped=0,
           note=f"opentelemetry-instrument uvicorn --workers 2 (spawned workers): all 100 request spans, "
                f"{len(files)} files, all verified, one recording id")
