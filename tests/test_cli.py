from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

from conftest import assert_not_recorded, column_values, entity_paths, needs_rerun, read_rrd
from worldforge_otel.cli import main


@needs_rerun
def test_demo_writes_a_readable_recording_and_reports_its_size(tmp_path, capsys):
    output = tmp_path / "demo.rrd"
    assert main(["demo", "--rerun-output", str(output)]) == 0
    printed = capsys.readouterr().out
    size = output.stat().st_size
    assert f"- recording: {output} ({size} bytes written)" in printed
    match = re.search(r"(\d+) provider events -> (\d+) spans \(0 dropped\)", printed)
    assert match and match.group(1) == match.group(2) and int(match.group(1)) >= 7
    frame = read_rrd(output, index="worldforge_event", contents="/worldforge/**")
    paths = entity_paths(frame)
    assert "/worldforge/events/remote-demo/generate/retry/log" in paths
    assert "/worldforge/events/remote-demo/generate/failure/payload" in paths
    assert "/worldforge/events/mock/predict/success/duration_ms" in paths
    assert column_values(frame, "/worldforge/events/remote-demo/generate/failure/log", "TextLog:level") == ["ERROR"]
    assert_not_recorded(output, "hunter2", "sk-demo")


def test_demo_without_rerun_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-rerun"]) == 0
    assert "rerun: disabled" in capsys.readouterr().out
    assert not list(tmp_path.rglob("*.rrd"))


def test_demo_built_in_flow_is_chosen_by_flag(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--no-rerun", "--built-in"]) == 0
    assert "source: built-in mock flow" in capsys.readouterr().out
    assert main(["demo", "--no-rerun"]) == 0
    installed = sys.version_info >= (3, 13) and importlib.util.find_spec("worldforge") is not None
    assert ("source: worldforge-ai" in capsys.readouterr().out) is installed


def test_package_and_instrumentation_work_without_rerun_sdk():
    code = (
        "import sys; sys.modules['rerun'] = None\n"  # makes 'import rerun' fail
        "import worldforge_otel\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "memory = InMemorySpanExporter(); provider = TracerProvider()\n"
        "provider.add_span_processor(SimpleSpanProcessor(memory))\n"
        "t = worldforge_otel.configure(rerun=False, tracer_provider=provider)\n"
        "t({'provider': 'mock', 'operation': 'predict', 'phase': 'success'})\n"
        "assert len(memory.get_finished_spans()) == 1\n"
        "from worldforge_otel.rerun import RerunSpanExporter\n"
        "exporter = RerunSpanExporter(options=worldforge_otel.RerunOptions(save_path='x.rrd'))\n"
        "assert not exporter.sink.enabled\n"
        "print('ok', 'rerun' in sys.modules and sys.modules['rerun'] is not None)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok False"
    assert "pip install 'worldforge-otel[rerun]'" in result.stderr


@needs_rerun
def test_bad_destinations_say_one_line_each_and_the_summary_names_only_where_the_data_went(tmp_path):
    """An invalid viewer URL and a save path under a file: each one clear line, no traceback, exit 0, the data
    in a file at the default place, and the summary never names the destination that was not used."""
    blocking = tmp_path / "a-file"
    blocking.write_text("not a directory")
    from otlp_backend import free_port

    nobody = f"rerun+http://127.0.0.1:{free_port()}/proxy"  # a valid URL where no viewer runs
    cases = [(["--rerun-connect-url", "notaurl"], "connect_url='notaurl' is not a Rerun URL"),
             (["--rerun-connect-url", nobody], f"no Rerun viewer answers at {nobody}"),
             (["--rerun-output", str(blocking / "x.rrd")], f"{blocking} is a file, not a directory")]
    for flags, setting in cases:
        result = subprocess.run([sys.executable, "-m", "worldforge_otel", "demo", "--built-in", *flags], cwd=tmp_path,
                                capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
        assert len(errors) == 1 and setting in errors[0] and "Traceback" not in result.stderr, result.stderr
        assert "worldforge_otel: worldforge_otel:" not in result.stderr  # the source named once
        assert "streamed to" not in result.stdout and "notaurl" not in result.stdout and nobody not in result.stdout
        (recording,) = re.findall(r"- recording: (\S+\.rrd)", result.stdout)
        assert (tmp_path / recording).stat().st_size > 0 and ".worldforge/rerun/" in recording
