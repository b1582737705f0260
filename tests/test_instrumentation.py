from __future__ import annotations

import dataclasses
import math
import threading
import time

import pytest
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

from worldforge_otel.demo import DemoEvent


def event(**fields):
    base = {"provider": "mock", "operation": "predict", "phase": "success", "duration_ms": 25.0}
    base.update(fields)
    return DemoEvent(**base)


def test_one_client_span_per_event_ending_now_and_starting_duration_earlier(providers):
    handler = providers.handler()
    before = time.time_ns()
    handler(event(duration_ms=250.0))
    after = time.time_ns()
    (span,) = providers.spans.get_finished_spans()
    assert span.name == "predict mock"
    assert span.kind is SpanKind.CLIENT
    assert before <= span.end_time <= after
    assert span.end_time - span.start_time == 250_000_000
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes["worldforge.provider"] == "mock"
    assert span.attributes["worldforge.phase"] == "success"
    assert span.attributes["worldforge.capability"] == "predict"
    assert "gen_ai.operation.name" not in span.attributes  # predict is not a GenAI operation


def test_failure_sets_error_status_and_error_type(providers):
    handler = providers.handler()
    handler(event(provider="remote", operation="generate", phase="failure", status_code=503, method="post",
                  target="https://u:p@api.example.com/v1?api_key=k", message="HTTP 503"))
    (span,) = providers.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "HTTP 503"
    assert span.attributes["error.type"] == "503"
    assert span.attributes["gen_ai.operation.name"] == "generate_content"
    assert span.attributes["gen_ai.provider.name"] == "remote"
    assert span.attributes["http.request.method"] == "POST"
    assert span.attributes["http.response.status_code"] == 503
    assert span.attributes["url.full"] == "https://api.example.com/v1"


def test_retry_keeps_status_unset_and_marks_the_attempt(providers):
    handler = providers.handler()
    handler(event(operation="embed", phase="retry", attempt=1, max_attempts=3))
    handler(event(operation="embed", phase="success", attempt=2, max_attempts=3))
    retry, success = providers.spans.get_finished_spans()
    assert retry.name == success.name == "embed mock"
    assert retry.status.status_code is StatusCode.UNSET
    assert retry.attributes["worldforge.phase"] == "retry" and "worldforge.retry" not in retry.attributes
    assert [e.name for e in retry.events] == ["worldforge.retry"]
    assert retry.events[0].attributes["worldforge.attempt"] == 1
    assert success.attributes["worldforge.attempt"] == 2
    assert retry.attributes["gen_ai.operation.name"] == "embeddings"


def test_metadata_is_flattened_and_trace_context_and_run_id_are_used(providers):
    handler = providers.handler()
    trace_id, parent_id = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    handler(event(metadata={"traceparent": f"00-{trace_id}-{parent_id}-01", "run_id": "run-42",
                            "scene": {"objects": 3, "labels": ["cube", "ball"]}, "mixed": [1, "a"]}))
    handler(event(metadata={"trace_id": trace_id, "span_id": parent_id}))
    first, second = providers.spans.get_finished_spans()
    for span in (first, second):
        assert f"{span.context.trace_id:032x}" == trace_id
        assert f"{span.parent.span_id:016x}" == parent_id
    assert first.attributes["worldforge.run.id"] == "run-42"
    assert first.attributes["worldforge.metadata.scene.objects"] == 3
    assert tuple(first.attributes["worldforge.metadata.scene.labels"]) == ("cube", "ball")
    assert first.attributes["worldforge.metadata.mixed"] == '[1,"a"]'


def test_events_nest_under_the_hosts_current_span(providers):
    handler = providers.handler()
    tracer = providers.tracer_provider.get_tracer("host")
    with tracer.start_as_current_span("world.plan") as parent:
        handler(event())
    child = next(s for s in providers.spans.get_finished_spans() if s.name == "predict mock")
    assert child.parent.span_id == parent.get_span_context().span_id


@pytest.mark.parametrize("deferred", [False, True])
def test_metrics_are_recorded_with_low_cardinality_labels(providers, deferred):
    handler = providers.handler(deferred=deferred)
    handler(event(duration_ms=100.0))
    handler(event(duration_ms=300.0))
    handler(event(phase="retry", target="https://a.example/x", message="m1", duration_ms=None))
    handler(event(phase="failure", target="https://b.example/y", message="m2", duration_ms=None))
    assert handler.force_flush(10_000)
    assert handler.stats.events_handled == 4
    points = providers.metric_points()
    success = next(p for p in points["worldforge.provider.operation.duration"]
                   if p.attributes["worldforge.phase"] == "success")
    assert success.count == 2 and math.isclose(success.sum, 0.4)
    assert sum(p.value for p in points["worldforge.provider.events"]) == 4
    assert sum(p.value for p in points["worldforge.provider.retries"]) == 1
    assert sum(p.value for p in points["worldforge.provider.failures"]) == 1
    assert "gen_ai.client.operation.duration" not in points  # predict is no GenAI operation
    for series in points.values():
        for point in series:
            assert set(point.attributes) == {
                "worldforge.provider", "worldforge.operation", "worldforge.phase", "worldforge.capability"}


def test_gen_ai_operations_are_measured_on_the_gen_ai_duration_histogram(providers):
    handler = providers.handler()
    handler(event(provider="cosmos", operation="generate", duration_ms=1500.0))
    handler(event(provider="cosmos", operation="generate", phase="failure", status_code=503, duration_ms=20.0))
    handler(event(provider="cosmos", operation="embed", duration_ms=5.0))
    handler(event(provider="cosmos", operation="predict", duration_ms=5.0))
    (metric,) = [m for rm in providers.metrics.get_metrics_data().resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics if m.name == "gen_ai.client.operation.duration"]  # fmt: skip
    assert metric.unit == "s"
    by_labels = {tuple(sorted(p.attributes.items())): p for p in metric.data.data_points}
    ok = by_labels[(("gen_ai.operation.name", "generate_content"), ("gen_ai.provider.name", "cosmos"))]
    assert ok.count == 1 and math.isclose(ok.sum, 1.5)
    assert list(ok.explicit_bounds) == [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
                                        40.96, 81.92]  # the GenAI conventions' advisory buckets
    failed = by_labels[(("error.type", "503"), ("gen_ai.operation.name", "generate_content"),
                        ("gen_ai.provider.name", "cosmos"))]  # fmt: skip
    assert failed.count == 1 and math.isclose(failed.sum, 0.02)
    embeddings = by_labels[(("gen_ai.operation.name", "embeddings"), ("gen_ai.provider.name", "cosmos"))]
    assert embeddings.count == 1
    assert len(by_labels) == 3  # predict is not a GenAI operation


def test_bad_input_never_raises_and_is_recorded(providers):
    handler = providers.handler()
    hostile = [
        object(),
        {"provider": None, "phase": "success"},
        event(duration_ms=math.nan),
        event(duration_ms=math.inf),
        event(duration_ms=-5),
        event(metadata={"raw": b"\x00\xff", "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {}}}}}}}}}}),
        event(message="m" * 1_000_000),
        event(metadata={f"k{i}": i for i in range(500)}),
        event(provider="a/b c", operation="\udcff"),
    ]
    for item in hostile:
        handler(item)
    spans = providers.spans.get_finished_spans()
    assert len(spans) == len(hostile)
    assert handler.stats.events_handled == len(hostile) and handler.stats.events_dropped == 0
    assert all(s.end_time == s.start_time for s in spans[2:5])  # unusable durations -> zero-length spans
    long_message = spans[6].attributes["worldforge.message"]
    assert len(long_message) < 10_000 and "truncated" in long_message
    assert spans[7].attributes["worldforge.metadata._dropped"] > 0


def test_a_failing_tracer_is_counted_not_raised(providers, caplog):
    handler = providers.handler()

    class Broken:
        def start_span(self, *args, **kwargs):
            raise RuntimeError("exporter exploded")

    handler._tracer = Broken()
    for _ in range(3):
        handler(event())
    assert handler.stats.events_dropped == 3
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1  # logged once, then throttled


def test_a_deferred_event_is_recorded_as_it_was_when_the_host_emitted_it(providers):
    """The calling thread copies each event's fields (and its metadata, one level) before handing it over: what
    the host changes afterwards never reaches the span, whatever the event's shape."""

    class LookAlike:  # a mutable object with only some of the fields
        def __init__(self) -> None:
            self.provider, self.operation, self.phase, self.message = "partial", "plan", "success", "as emitted"

    handler = providers.handler(deferred=True)
    gate = threading.Event()
    process = handler._queue._process
    handler._queue._process = lambda batch: (gate.wait(10), process(batch))
    slotted = dataclasses.make_dataclass(  # WorldForge's ProviderEvent is a mutable slots dataclass, like this
        "MutableEvent", [(name, object) for name in ("provider", "operation", "phase", "target", "metadata")],
        slots=True)
    events = [slotted("wf", "generate", "success", "https://a.example/v1", {"run": "as emitted"}),
              LookAlike(),
              {"provider": "mapped", "operation": "score", "phase": "retry", "metadata": {"run": "as emitted"}}]
    for item in events:
        handler(item)
    events[0].target, events[0].metadata["run"] = "https://changed.example/", "changed"
    events[1].message, events[1].provider = "changed", "changed"
    events[2]["phase"], events[2]["metadata"]["run"] = "failure", "changed"
    gate.set()
    assert handler.force_flush(10_000)
    spans = {span.attributes["worldforge.provider"]: span for span in providers.spans.get_finished_spans()}
    assert sorted(spans) == ["mapped", "partial", "wf"]
    assert spans["wf"].attributes["url.full"] == "https://a.example/v1"
    assert spans["wf"].attributes["worldforge.metadata.run"] == "as emitted"
    assert spans["partial"].attributes["worldforge.message"] == "as emitted"
    assert "worldforge.target" not in spans["partial"].attributes and "url.full" not in spans["partial"].attributes
    assert spans["mapped"].attributes["worldforge.phase"] == "retry"
    assert spans["mapped"].attributes["worldforge.metadata.run"] == "as emitted"
    assert handler.stats.events_handled == 3 and handler.stats.events_dropped == 0


@pytest.mark.parametrize("deferred", [True, False], ids=["deferred", "calling-thread"])
def test_eight_threads_thousand_events_each(providers, deferred):
    handler = providers.handler(deferred=deferred)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(1000):
                handler(event(provider=f"p{n}", duration_ms=float(i)))
        except BaseException as error:  # pragma: no cover - the assertion below reports it
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert handler.force_flush(10_000)
    assert len(providers.spans.get_finished_spans()) == 8000
    assert handler.stats.events_handled == 8000


def test_suppressed_instrumentation_records_nothing(providers):
    from opentelemetry import context

    handler = providers.handler()
    token = context.attach(context.set_value(context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        handler(event())
    finally:
        context.detach(token)
    assert providers.spans.get_finished_spans() == ()
    assert trace.get_current_span() is trace.INVALID_SPAN
