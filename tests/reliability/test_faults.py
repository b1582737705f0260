"""The fault matrix: each test injects one fault into real parts and checks the host never notices."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import worldforge_otel
from conftest import column_values, entity_paths, needs_rerun, read_rrd, recorded_strings, recording_ids
from worldforge_otel import BatchOptions, RerunOptions
from worldforge_otel.demo import DemoEvent
from worldforge_otel.instrumentation import ProviderEventHandler
from worldforge_otel.rerun import RerunSpanExporter

pytestmark = needs_rerun
LOG = "/worldforge/events/mock/predict/success/log"
RERUN = Path(sys.executable).parent / "rerun"


def events_in(path: Path, entity: str = LOG) -> int:
    frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
    return len(column_values(frame, entity, "TextLog:text")) if f"{entity}:TextLog:text" in frame else 0


def emit(telemetry, count: int, **fields) -> None:
    for i in range(count):
        telemetry(DemoEvent(fields.get("provider", "mock"), "predict", "success", duration_ms=float(i % 50),
                            message=fields.get("message", "")))


def configure(providers, **options):
    return worldforge_otel.configure(rerun=RerunOptions(**options), tracer_provider=providers.tracer_provider,
                                     meter_provider=providers.meter_provider, set_global_providers=False)


def run_host(script: Path, *, timeout: float) -> tuple[str, float, bool]:
    """Run a host script; returns (its output up to "host finished", seconds until then, whether it exited).

    A process whose interpreter exit blocks inside rerun-sdk (upstream rerun-io/rerun#12620) is killed after
    10 s; the test then asserts on what the host's own code did.
    """
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env={**os.environ, "RERUN_ANALYTICS": "false"})
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("host finished"):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    took = time.monotonic() - started
    try:
        process.wait(timeout=10)
        exited = True
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        exited = False
    return "".join(lines), took, exited


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_viewer_down_connect_refused(tmp_path, providers, report, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"rerun+http://127.0.0.1:{closed_port()}/proxy"
    with caplog.at_level(logging.ERROR, logger="worldforge_otel"):
        telemetry = configure(providers, connect_url=url, shutdown_timeout_secs=1.5)
    emit(telemetry, 200)
    started = time.monotonic()
    telemetry.shutdown()
    took = time.monotonic() - started
    (kept,) = (tmp_path / ".worldforge" / "rerun").glob("*.rrd")
    assert events_in(kept) == 200  # nothing lost: the data is in the file the log line names
    (line,) = [r.getMessage() for r in caplog.records if "no Rerun viewer answers" in r.getMessage()]
    assert url in line and kept.name in line
    assert "did not close" not in caplog.text and took < 1.5
    assert len(providers.spans.get_finished_spans()) == 200 and telemetry.stats.events_dropped == 0
    report(events_in=200, events_out=200, dropped=0,
           note=f"nothing listens at the viewer URL: one line at start naming the URL and the file the data is "
                f"kept in instead; all 200 events in that file; shutdown {took:.1f} s")


@pytest.mark.skipif(not RERUN.exists(), reason="the rerun CLI is not installed")
def test_viewer_killed_mid_run(tmp_path, providers, report):
    port = closed_port()
    viewer = subprocess.Popen([str(RERUN), "--serve-grpc", "--port", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "RERUN_ANALYTICS": "false"})
    try:
        deadline = time.monotonic() + 20
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        path = tmp_path / "killed.rrd"
        telemetry = configure(providers, save_path=path, connect_url=f"rerun+http://127.0.0.1:{port}/proxy",
                              shutdown_timeout_secs=2.0)
        emit(telemetry, 100)
        telemetry.force_flush(5_000)  # may report False: the viewer's gRPC flush is bounded by the 2 s deadline
        viewer.send_signal(signal.SIGKILL)
        viewer.wait(5)
        emit(telemetry, 100)
        started = time.monotonic()
        telemetry.shutdown()
        took = time.monotonic() - started
    finally:
        viewer.kill()
    assert took < 2.0 + 2.0
    assert events_in(path) == 200  # the file sink keeps everything while the viewer is gone
    report(events_in=200, events_out=200, dropped=0,
           note=f"viewer SIGKILLed after 100 events; the .rrd next to it has all 200; shutdown {took:.1f} s")


def test_missing_directory_and_unwritable_path(tmp_path, providers, report, caplog, monkeypatch):
    nested = tmp_path / "a" / "b" / "c" / "run.rrd"
    telemetry = configure(providers, save_path=nested)
    emit(telemetry, 50)
    telemetry.shutdown()
    assert events_in(nested) == 50
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plain-file").write_text("x")
    with caplog.at_level(logging.ERROR, logger="worldforge_otel"):
        telemetry = configure(providers, save_path=tmp_path / "plain-file" / "run.rrd")
    emit(telemetry, 50)
    telemetry.shutdown()
    (fallback,) = (tmp_path / ".worldforge" / "rerun").glob("*.rrd")
    assert events_in(fallback) == 50
    assert [r.getMessage() for r in caplog.records if "cannot write the Rerun recording" in r.getMessage()]
    report(events_in=100, events_out=100, dropped=0,
           note="missing directories are created; a path under a file logs one line naming "
                "save_path/--rerun-output/OTEL_EXPORTER_RERUN_SAVE_PATH and falls back to the default file")


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="needs /proc (a directory nothing can be made in)")
def test_no_destination_can_be_opened_nothing_is_buffered(tmp_path, report):
    """An unwritable save path and a working directory where the default file cannot be made either: one line
    says nothing is written, every span is counted dropped, and memory does not grow with the data."""
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent("""
        import os, resource
        os.chdir("/proc/self")  # the default .worldforge/rerun/ cannot be made here
        import worldforge_otel
        from worldforge_otel.demo import DemoEvent
        t = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path="/proc/self/x/run.rrd"),
                                      set_global_providers=False)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for i in range(60_000):
            t(DemoEvent("mock", "predict", "success", duration_ms=1.0, message=f"request {i} " * 10))
            if i % 4000 == 3999:
                t.force_flush()  # (the event queue holds 8,192: this test is about the sink)
        t.shutdown()
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        print("host finished", t.stats.events_handled, t.spans_exported, t.spans_dropped, round(grown_mb))
    """))
    process = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "RERUN_ANALYTICS": "false"}, check=False)  # fmt: skip
    assert process.returncode == 0 and "host finished" in process.stdout, process.stderr[-3000:]
    handled, exported, dropped, grown_mb = map(int, process.stdout.split("host finished")[1].split()[:4])
    assert (handled, exported, dropped) == (60_000, 0, 60_000)
    assert grown_mb < 30, grown_mb  # the spans were not kept (buffered, they took ~80 MB)
    said = [line for line in process.stderr.splitlines() if "no Rerun destination could be opened" in line]
    assert len(said) == 1, process.stderr[-3000:]
    report(events_in=60_000, events_out=0, dropped=60_000,
           note=f"no file can be made (save path and working directory unwritable): one line, every span counted "
                f"dropped, memory grew {grown_mb} MB (nothing buffered)")


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_disk_full(tmp_path, providers, report, caplog, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.ERROR, logger="worldforge_otel"):
        telemetry = configure(providers, save_path="/dev/full")
    emit(telemetry, 50)
    telemetry.shutdown()
    assert "No space left on device" in caplog.text
    (fallback,) = (tmp_path / ".worldforge" / "rerun").glob("*.rrd")
    assert events_in(fallback) == 50
    report(events_in=50, events_out=50, dropped=0,
           note="/dev/full: the write probe at open sees ENOSPC, one line, the default file is used instead")


def test_disk_full_mid_run_on_a_small_filesystem(tmp_path, report):
    """A real filesystem that fills up mid-run (a 24 MB tmpfs in a private mount namespace): the recording stops
    short of the full disk, closed whole, one line says so, and every span counted exported is in the file."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-rm", "true"], capture_output=True, check=False).returncode:
        pytest.skip("needs unshare with user and mount namespaces (to mount a small tmpfs without root)")
    disk, copy = tmp_path / "small-disk", tmp_path / "copied.rrd"
    disk.mkdir()
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(f"""
        import os, shutil, sys
        import worldforge_otel
        from worldforge_otel.demo import DemoEvent
        path = {str(disk / 'run.rrd')!r}
        t = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path=path), set_global_providers=False)
        for i in range(60_000):
            t(DemoEvent("mock", "predict", "success", duration_ms=1.0, message=os.urandom(200).hex()))
            if i % 4000 == 3999:
                t.force_flush()
        t.shutdown()
        shutil.copy(path, {str(copy)!r})  # the tmpfs ends with this namespace
        print("host finished", t.stats.events_handled, t.spans_exported, t.spans_dropped)
    """))
    command = f"mount -t tmpfs -o size=24m tmpfs {disk} && exec {sys.executable} {script}"
    process = subprocess.run([unshare, "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=600,
                             env={**os.environ, "RERUN_ANALYTICS": "false"}, check=False)  # fmt: skip
    assert process.returncode == 0 and "host finished" in process.stdout, process.stderr[-3000:]
    handled, exported, dropped = map(int, process.stdout.split("host finished")[1].split()[:3])
    assert handled == 60_000 and exported + dropped == 60_000 and dropped > 0 and exported > 0
    check = subprocess.run([str(RERUN), "rrd", "verify", str(copy)], capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr  # whole: it stopped before the disk was full
    assert events_in(copy) == exported  # honest: what is counted exported is in the file
    said = [line for line in process.stderr.splitlines() if "left on the disk" in line]
    assert len(said) == 1, process.stderr[-3000:]
    report(events_in=60_000, events_out=exported, dropped=dropped,
           note=f"a 24 MB tmpfs filling up mid-run: the recording stops with 16 MB still free "
                f"({copy.stat().st_size:,} bytes), closed whole, one line; the {exported:,} spans counted exported are "
                f"all in the file, {dropped:,} counted dropped")


def test_file_size_limit_hit_mid_run_in_a_subprocess(tmp_path, report):
    """RLIMIT_FSIZE caps the file mid-run: the recording ends short of the limit, closed whole, one line says so,
    and the counts are honest (every span counted exported is in the file; the rest are counted dropped)."""
    script = tmp_path / "host.py"
    path = tmp_path / "big.rrd"
    script.write_text(textwrap.dedent(f"""
        import resource, signal, sys, time
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit would fail with EFBIG
        import worldforge_otel
        from worldforge_otel.demo import DemoEvent
        t = worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path={str(path)!r}),
                                      set_global_providers=False)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))
        for i in range(6000):
            t(DemoEvent("mock", "predict", "success", duration_ms=1.0, message="x" * 500))
            if i % 500 == 499:
                t.force_flush()
        t.shutdown()
        print("host finished", t.stats.events_handled, t.spans_exported, t.spans_dropped)
    """))
    process = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "RERUN_ANALYTICS": "false"}, check=False)  # fmt: skip
    assert process.returncode == 0 and "host finished" in process.stdout, process.stderr[-3000:]
    handled, exported, dropped = map(int, process.stdout.split("host finished")[1].split()[:3])
    assert handled == 6000 and exported + dropped == 6000 and dropped > 0, (handled, exported, dropped)
    check = subprocess.run([str(RERUN), "rrd", "verify", str(path)], capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr  # closed whole, short of the limit
    assert events_in(path) == exported  # honest: what is counted exported is in the file
    said = [line for line in process.stderr.splitlines() if "file size limit" in line]
    assert len(said) == 1 and str(path) in said[0], process.stderr[-3000:]
    report(events_in=6000, events_out=exported, dropped=dropped,
           note=f"RLIMIT_FSIZE of 1 MB hit mid-run: the recording ends short of it ({path.stat().st_size} bytes), "
                f"closed whole, one line; {exported} spans counted exported are all in the file, {dropped} counted "
                "dropped")


BACKLOG_APP = """
    import sys, time
    import worldforge_otel
    from opentelemetry import trace
    from worldforge_otel.rerun import at_exit

    if len(sys.argv) > 2:
        at_exit.EXIT_FLUSH_TIMEOUT_MILLIS = int(sys.argv[2])  # too short for the backlog below
    batch = worldforge_otel.BatchOptions(max_queue_size=65536, max_export_batch_size=65536,
                                         schedule_delay_millis=600_000)  # nothing is exported before exit
    worldforge_otel.configure(rerun=worldforge_otel.RerunOptions(save_path=sys.argv[1]), batch=batch)
    tracer = trace.get_tracer("app")
    for i in range(40_000):
        tracer.start_span(f"work {i % 7}", attributes={f"k{j}": "v" * 50 for j in range(10)}).end()
    print(f"done {time.time()}", flush=True)
"""


@pytest.mark.parametrize("budget_millis", [None, 300], ids=["default-exit-budget", "budget-too-short"])
def test_a_backlog_of_40000_spans_at_exit(tmp_path, report, budget_millis):
    """40,000 spans still queued when the app ends: exit stays bounded, the file is whole, and what the exit
    flush could not write in its budget is said (the SDK's own force_flush would export the whole queue)."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(BACKLOG_APP))
    path = tmp_path / "backlog.rrd"
    result = subprocess.run([sys.executable, str(script), str(path), *([str(budget_millis)] if budget_millis else [])],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "RERUN_ANALYTICS": "false"},
                            check=False)  # fmt: skip
    exit_secs = time.time() - float(result.stdout.split()[-1])
    assert result.returncode == 0, result.stderr[-3000:]
    check = subprocess.run([str(RERUN), "rrd", "verify", str(path)], capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr
    frame = read_rrd(path, index="worldforge_time", contents="/otel/spans/**") if budget_millis is None else None
    written = sum(len(column_values(frame, entity, "TextLog:text")) for entity in entity_paths(frame)
                  if entity.endswith("/log")) if frame is not None else 0  # fmt: skip
    said = [line for line in result.stderr.splitlines() if "the exit flush ran out" in line]
    if budget_millis is None:
        assert written == 40_000 and not said and exit_secs < 5 + 5, (written, exit_secs, result.stderr[-2000:])
        note = f"all 40,000 written within the 5 s exit budget; the process ended {exit_secs:.1f} s after the app"
    else:
        (line,) = said
        left = int(line.split(" with ")[1].split()[0])
        assert left > 0 and exit_secs < 0.3 + 5 + 5, (line, exit_secs)
        note = (f"exit budget cut to 0.3 s: one line says {left} spans were still queued or being written; the file "
                f"is closed whole anyway; the process ended {exit_secs:.1f} s after the app")
    report(events_in=40_000, events_out=40_000 if budget_millis is None else 40_000 - left, dropped=0 if
           budget_millis is None else left, note=note)  # fmt: skip


def test_shutdown_twice_export_after_shutdown_and_flush_timeout(tmp_path, providers, report):
    telemetry = configure(providers, save_path=tmp_path / "twice.rrd")
    emit(telemetry, 10)
    started = time.monotonic()
    flushed = telemetry.force_flush(timeout_millis=1)
    assert time.monotonic() - started < 1.0 and isinstance(flushed, bool)
    telemetry.shutdown()
    telemetry.shutdown()
    emit(telemetry, 5)  # ignored, not raised
    exporter = RerunSpanExporter(options=RerunOptions(save_path=tmp_path / "direct.rrd"))
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([object()]).name == "FAILURE" and exporter.spans_dropped == 1
    assert events_in(tmp_path / "twice.rrd") == 10
    report(events_in=16, events_out=10, dropped=1,
           note="double shutdown is a no-op; events after shutdown are ignored; export after shutdown returns "
                "FAILURE and counts the batch; force_flush(1 ms) returns at once")


def test_frozen_viewer_process_exits_within_the_deadline(tmp_path, report):
    """A viewer that accepts the connection and never reads, next to a file: the file is closed whole with every
    event (its stream never waits for the viewer's), the viewer's stream is given up at its deadline, and the
    process exits."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: [accepted.append(server.accept()[0]) for _ in range(16)], daemon=True).start()
    path = tmp_path / "beside-frozen.rrd"
    script = tmp_path / "host.py"
    script.write_text(textwrap.dedent(f"""
        import worldforge_otel
        from worldforge_otel.demo import DemoEvent
        options = worldforge_otel.RerunOptions(
            connect_url="rerun+http://127.0.0.1:{server.getsockname()[1]}/proxy", save_path={str(path)!r},
            shutdown_timeout_secs=2.0)
        t = worldforge_otel.configure(rerun=options, set_global_providers=False)
        for i in range(2000):
            t(DemoEvent("mock", "predict", "success", duration_ms=1.0, message="y" * 200))
        t.shutdown()
        print("host finished")
    """))
    output, took, exited = run_host(script, timeout=60)
    server.close()
    assert "host finished" in output
    assert took < 15, took  # start-up + 2,000 events + shutdown bounded by the 2 s deadlines
    assert exited  # the stuck stream is abandoned, so rerun-sdk cannot block the interpreter's exit
    check = subprocess.run([str(RERUN), "rrd", "verify", str(path)], capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr  # the file's footer never waited for the frozen viewer
    assert events_in(path) == 2000
    report(events_in=2000, events_out=2000, dropped=0,
           note=f"a TCP server that accepts and never reads, next to a file: the file is closed whole with all "
                f"2,000 events (its own stream), the viewer's stream is given up at the 2 s deadline and abandoned, "
                f"so rerun-sdk's wait-forever at exit (rerun-io/rerun#12620) cannot block; {took:.1f} s from start-up, "
                "exit 0")


def test_fork_after_configure(tmp_path, providers, report):
    path = tmp_path / "fork.rrd"
    telemetry = configure(providers, save_path=path)
    emit(telemetry, 10)
    assert telemetry.force_flush(5_000)
    pid = os.fork()
    if pid == 0:  # the child: records to a file of its own, never touches the parent's
        try:
            emit(telemetry, 10, provider="child")
            telemetry.shutdown(timeout_millis=5_000)
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the forked child hung")
    emit(telemetry, 10)
    telemetry.shutdown()
    assert os.waitstatus_to_exitcode(status) == 0
    assert events_in(path) == 20
    frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
    assert not any("/child/" in p for p in entity_paths(frame))
    child = path.with_name(f"fork-{pid}.rrd")
    assert events_in(child, "/worldforge/events/child/predict/success/log") == 10
    assert recording_ids(child)[0][1] == recording_ids(path)[0][1]  # one recording in the viewer
    report(events_in=30, events_out=30, dropped=0,
           note="os.fork after configure(): the child's sink reopens on its first write, to fork-<pid>.rrd beside "
                "the parent's file under the same recording id; the parent's file keeps its own 20 events")


def test_eight_threads_ten_thousand_events_each(tmp_path, providers, report):
    path = tmp_path / "threads.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), tracer_provider=providers.tracer_provider,
                                          meter_provider=providers.meter_provider, set_global_providers=False,
                                          batch=BatchOptions(max_queue_size=100_000))
    errors: list[BaseException] = []

    def work() -> None:
        try:
            emit(telemetry, 10_000)
        except BaseException as error:  # pragma: no cover
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    telemetry.shutdown(timeout_millis=120_000)
    stats = telemetry.stats
    assert not errors
    assert stats.events_handled + stats.events_dropped == 80_000  # exact accounting
    assert telemetry.spans_exported == stats.events_handled
    assert events_in(path) == stats.events_handled
    report(events_in=80_000, events_out=stats.events_handled, dropped=stats.events_dropped,
           note="8 threads at full speed; every event is either exported or counted as dropped (queue "
                "of 8,192); the .rrd row count equals the exported count")


def test_queue_overflow_drops_an_exact_count(providers, report):
    handler = ProviderEventHandler(tracer_provider=providers.tracer_provider, meter_provider=providers.meter_provider,
                                   max_queue_size=100)
    handler(DemoEvent("mock", "predict", "success"))  # starts the worker
    assert handler.force_flush(5_000)
    with handler._queue._done:  # the worker cannot take anything while we hold this
        for _ in range(1000):
            handler(DemoEvent("mock", "predict", "success"))
        assert handler.stats.events_dropped == 900
    assert handler.force_flush(5_000)
    assert handler.stats.events_handled == 101
    assert len(providers.spans.get_finished_spans()) == 101
    report(events_in=1001, events_out=101, dropped=900,
           note="worker stalled, queue of 100: exactly 900 dropped and counted, the 100 queued are exported")


HOSTILE = [
    {"provider": "a/b/c", "operation": "predict", "phase": "success", "duration_ms": float("nan")},
    {"provider": "  ", "operation": "", "phase": "success", "duration_ms": float("inf")},
    {"provider": b"\xff\xfebytes", "operation": "ünïcödé 🚀", "phase": "success", "message": "bad \udcff surrogate"},
    {"provider": "mock", "operation": "predict", "phase": "success", "message": "m" * 1_000_000},
    {"provider": "mock", "operation": "predict", "phase": "success",
     "metadata": {f"key{i}": i for i in range(10_000)}},
    {"provider": "mock", "operation": "predict", "phase": "success", "metadata": {"deep": None}},
    {"provider": "mock", "operation": "predict", "phase": "success", "metadata": {"blob": b"\x00\x01" * 1000,
                                                                                  "nested": [[{"x": [1, {"y": 2}]}]]}},
    {},
    {"provider": None, "phase": 42, "attempt": "three", "status_code": "teapot", "max_attempts": -1},
]


def test_hostile_attributes(tmp_path, providers, report):
    deep: dict = {}
    node = deep
    for _ in range(60):
        node["next"] = {}
        node = node["next"]
    HOSTILE[5]["metadata"]["deep"] = deep
    path = tmp_path / "hostile.rrd"
    telemetry = configure(providers, save_path=path)
    for event in HOSTILE:
        telemetry(event)
    telemetry.shutdown()
    assert telemetry.stats.events_handled == len(HOSTILE) and telemetry.stats.events_dropped == 0
    frame = read_rrd(path, index="worldforge_event", contents="/worldforge/**")
    paths = entity_paths(frame)
    assert all("//" not in p and " " not in p for p in paths)
    assert sum(len(column_values(frame, p, "TextLog:text")) for p in paths if p.endswith("/log")) == len(HOSTILE)
    longest = max(len(t) for p in paths if p.endswith("/payload") for t in column_values(frame, p, "TextDocument:text"))
    assert longest < 200_000
    report(events_in=len(HOSTILE), events_out=len(HOSTILE), dropped=0,
           note="NaN/inf, bytes, lone surrogates, 1 MB strings, 10,000 metadata keys, 60-deep nesting, '/', "
                "blank and unicode names, missing and wrongly typed fields: all recorded, sanitized, capped")


SECRETS = {
    "bearer": "Bearer sk-live-0123456789abcdefABCDEF",
    "api_key": "AKIAIOSFODNN7EXAMPLE",
    "token": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "password": "hunter2-very-secret",
    "signature": "sig-4f2a9c1e7b3d5a8f",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
SECRET_URL = "https://user:pa55word@api.example.com/v1/generate?api_key=sk-url-secret-998877&X-Amz-Signature=abcdef"


def test_secrets_never_reach_rerun_or_otlp(tmp_path, collector, jaeger, report):
    path = tmp_path / "secrets.rrd"
    telemetry = worldforge_otel.configure(rerun=RerunOptions(save_path=path), otlp_endpoint=collector.grpc_endpoint,
                                          service_name="secrets", set_global_providers=False, log_level="INFO")
    for name, value in SECRETS.items():
        telemetry({"provider": "remote", "operation": "generate", "phase": "failure", "target": SECRET_URL,
                   "message": f"Authorization: {SECRETS['bearer']} {name}={value}",
                   "metadata": {name: value, "headers": {"Authorization": SECRETS["bearer"]}, "url": SECRET_URL}})
    logging.getLogger("app").warning("calling %s with token=%s", SECRET_URL, SECRETS["token"])
    telemetry.artifacts.record_doctor({"env": {"API_KEY": SECRETS["api_key"], "password": SECRETS["password"]}})
    telemetry.shutdown()
    spans = jaeger.wait_for_spans(len(SECRETS) + 1)
    shipped = "\n".join(jaeger.strings())
    recorded = "\n".join(recorded_strings(path))
    assert "/worldforge/events/remote/generate/failure/log" in recorded
    leaks = [name for name, value in {**SECRETS, "url_password": "pa55word", "url_key": "sk-url-secret-998877"}.items()
             if value.split()[-1] in shipped or value.split()[-1] in recorded]
    assert spans and not leaks
    report(events_in=len(SECRETS) + 2, events_out=len(SECRETS) + 2, dropped=0,
           note=f"{len(SECRETS) + 2} secret kinds planted in every field, a log line and an artifact: none in "
                "the decoded recording, none in what the OTLP collector forwarded")
