from __future__ import annotations

import importlib
import importlib.util
import os
import platform
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from worldforge_otel.instrumentation import ProviderEventHandler

configure_module = importlib.import_module("worldforge_otel.configure")

os.environ.setdefault("RERUN_ANALYTICS", "false")  # no first-run banner in test output

HAS_RERUN = importlib.util.find_spec("rerun") is not None
needs_rerun = pytest.mark.skipif(not HAS_RERUN, reason="rerun-sdk is not installed")


class Providers:
    def __init__(self) -> None:
        resource = Resource.create({"service.name": "tests"})
        self.spans = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(resource=resource, metric_readers=[self.metrics])

    def handler(self, *, deferred: bool = False) -> ProviderEventHandler:
        """Translation tests run on the calling thread; the deferred (default) path has tests of its own."""
        return ProviderEventHandler(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider,
                                    deferred=deferred)

    def metric_points(self) -> dict[str, list]:
        points: dict[str, list] = {}
        data = self.metrics.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    points.setdefault(metric.name, []).extend(metric.data.data_points)
        return points


@pytest.fixture
def providers() -> Providers:
    return Providers()


@pytest.fixture(autouse=True)
def _reset_configure_state():
    yield
    active = configure_module._ACTIVE
    if active is not None:
        active[1].shutdown()
    configure_module._ACTIVE = None


@pytest.fixture
def strict_rerun():
    if not HAS_RERUN:
        pytest.skip("rerun-sdk is not installed")
    import rerun as rr

    rr.set_strict_mode(True)
    yield rr
    rr.set_strict_mode(False)


def read_rrd_arrow(path: Path, *, index: str, contents: str = "/**"):
    """Read an .rrd back as a pyarrow Table, on rerun-sdk 0.24 and >= 0.25 alike (for columns pandas cannot hold)."""
    import rerun as rr

    if hasattr(rr, "dataframe") and hasattr(rr.dataframe, "load_recording"):
        recording = rr.dataframe.load_recording(str(path))
        return recording.view(index=index, contents=contents).select().read_all()
    from rerun.chunk import RrdReader

    store = RrdReader(str(path)).stream().collect()
    return store.reader(index=index, contents=contents).to_arrow_table()


def recorded_strings(path: Path) -> list[str]:
    """Every string a recording holds: entity paths and every value of every column of every chunk, decoded.

    (An .rrd is LZ4-compressed: searching its raw bytes for a string proves nothing.)
    """
    from otlp_backend import walk_strings

    found: list[str] = []
    try:
        from rerun.chunk import RrdReader
    except ImportError:  # rerun-sdk < 0.25: every row we write is on worldforge_time
        table = read_rrd_arrow(path, index="worldforge_time")
        found.extend(table.column_names)
        for column in table.columns:
            walk_strings(column.to_pylist(), found)
        return found
    for chunk in RrdReader(str(path)).stream().to_chunks():
        found.append(str(chunk.entity_path))
        batch = chunk.to_record_batch()
        found.extend(batch.schema.names)
        for column in batch.columns:
            walk_strings(column.to_pylist(), found)
    return found


def assert_not_recorded(path: Path, *secrets: str) -> None:
    """None of ``secrets`` is in any string the recording holds (decoded), and the recording holds something."""
    strings = recorded_strings(path)
    assert any(s.startswith("/worldforge/") or s.startswith("/otel/") for s in strings), "nothing was recorded"
    blob = "\n".join(strings)
    assert [secret for secret in secrets if secret in blob] == []


def bar_charts(path: Path, index: str, entity: str) -> list[list[float]]:
    """Every BarChart row of ``entity`` (a tensor column, which pandas cannot hold)."""
    table = read_rrd_arrow(path, index=index, contents=entity)
    cells = [cell for cell in table.column(f"{entity}:BarChart:values").to_pylist() if cell]
    return [[float(v) for v in cell[0]["buffer"]] for cell in cells]


def read_rrd(path: Path, *, index: str, contents: str = "/**"):
    """Read an .rrd back as a pandas DataFrame, on rerun-sdk 0.24 and >= 0.25 alike.

    Tensor columns (a BarChart's values: an arrow union pandas cannot hold) are left out; read them with
    :func:`read_rrd_arrow`.
    """
    import pyarrow as pa

    table = read_rrd_arrow(path, index=index, contents=contents)
    unions = [field.name for field in table.schema if _holds_union(field.type, pa)]
    return table.drop_columns(unions).to_pandas()


def _holds_union(arrow_type, pa) -> bool:
    while pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) or pa.types.is_struct(arrow_type):
        if pa.types.is_struct(arrow_type):
            return any(_holds_union(field.type, pa) for field in arrow_type)
        arrow_type = arrow_type.value_type
    return pa.types.is_union(arrow_type)


def column_values(frame, path: str, component: str) -> list:
    """Non-null values of one entity path's component column, each unwrapped from its one-element list."""
    column = frame[f"{path}:{component}"]
    values = []
    for cell in column:
        if cell is None or (hasattr(cell, "__len__") and len(cell) == 0):
            continue
        try:
            values.append(cell[0])
        except TypeError:
            continue
    return values


def entity_paths(frame) -> set[str]:
    return {name.split(":", 1)[0] for name in frame.columns if name.startswith("/")}


def recorded_entity_paths(path: Path) -> set[str]:
    """Every entity path an .rrd holds, without building a table (thousands of entities stay cheap)."""
    try:
        from rerun.chunk import RrdReader
    except ImportError:  # rerun-sdk < 0.25: the schema lists every component column with its entity
        import rerun as rr

        columns = rr.dataframe.load_recording(str(path)).schema().component_columns()
        return {str(column.entity_path) for column in columns}
    return {str(chunk.entity_path) for chunk in RrdReader(str(path)).stream().to_chunks()}


@pytest.fixture(autouse=True)
def _fresh_bad_value_reports():
    """Each test sees bad settings reported anew (they are reported once per process otherwise)."""
    from worldforge_otel import _env

    _env._reported.clear()
    yield
    _env._reported.clear()


@pytest.fixture
def clean_env(monkeypatch):
    """No OTEL_* / ROTEL_* variables from the outside world."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "ROTEL_")):
            monkeypatch.delenv(name)
    return monkeypatch


def recording_ids(path: Path) -> list[tuple[str, str]]:
    """(application_id, recording_id) of every recording in an .rrd, on rerun-sdk 0.24 and >= 0.25."""
    import rerun as rr

    if hasattr(rr, "dataframe") and hasattr(rr.dataframe, "load_recording"):
        recording = rr.dataframe.load_recording(str(path))
        return [(recording.application_id(), recording.recording_id())]
    from rerun.chunk import RrdReader

    return [(entry.application_id, entry.recording_id) for entry in RrdReader(str(path)).recordings()]


@pytest.fixture
def jaeger():
    """A Jaeger-shaped OTLP/HTTP backend in this process."""
    pytest.importorskip("opentelemetry.proto", reason="needs opentelemetry-proto (extra: otlp)")
    from otlp_backend import JaegerShapedReceiver

    receiver = JaegerShapedReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def collector(jaeger, tmp_path):
    """A real rotel collector (subprocess) that forwards to the ``jaeger`` receiver."""
    from otlp_backend import Rotel, rotel_binary

    binary = rotel_binary()
    if binary is None:
        pytest.skip("the rotel collector is not installed (pip install rotel)")
    rotel = Rotel(binary, jaeger.url, tmp_path / "rotel.log")
    yield rotel
    rotel.stop()


def column_cells(frame, path: str, component: str) -> list[list]:
    """Every non-null cell of one column, as a list of instances (each converted to a plain list)."""
    column = frame[f"{path}:{component}"]
    cells = []
    for cell in column:
        if cell is None or (hasattr(cell, "__len__") and len(cell) == 0):
            continue
        cells.append([item.tolist() if hasattr(item, "tolist") else item for item in cell])
    return cells


# -- the fault matrix (tests/reliability) records what each fault did ---------------------------------

RELIABILITY_ROWS: list[dict] = []


@pytest.fixture
def report(request):
    """``report(events_in=..., events_out=..., dropped=..., note=...)`` adds this test's row."""

    def add(*, events_in: int, events_out: int, dropped: int, exceptions: int = 0, note: str = "") -> None:
        RELIABILITY_ROWS.append({"fault": request.node.name, "in": events_in, "out": events_out, "dropped": dropped,
                     "exceptions": exceptions, "note": note})

    return add


def pytest_sessionfinish(session, exitstatus):
    target = os.environ.get("WORLDFORGE_OTEL_RELIABILITY_REPORT")
    if not target or not RELIABILITY_ROWS:
        return
    import rerun

    lines = [
        "# Reliability: the fault matrix",
        "",
        "Written by `WORLDFORGE_OTEL_RELIABILITY_REPORT=docs/reliability.md python -m pytest tests/reliability "
        f"tests/test_processes.py tests/test_zero_code.py` (Python {platform.python_version()}, rerun-sdk "
        f"{rerun.__version__}). Every row is a test that injects the fault into a real exporter/recording (real "
        "servers and processes where the fault is about processes) and asserts the outcome: the "
        "host keeps running, no exception reaches it, accepted data is not lost where the sink can recover, and "
        "drops are counted.",
        "",
        "| fault (test) | events in | exported | dropped | exceptions in the host | what happened |",
        "|---|---|---|---|---|---|",
    ]
    for row in RELIABILITY_ROWS:
        lines.append(f"| `{row['fault']}` | {row['in']:,} | {row['out']:,} | {row['dropped']:,} | {row['exceptions']} "
                     f"| {row['note']} |")
    lines.append("")
    Path(target).write_text("\n".join(lines), encoding="utf-8")
