"""EventRecord -> OTel span attributes (``worldforge.*`` plus GenAI, HTTP and URL conventions).

Each fact is written once: the status code only as ``http.response.status_code``, a URL target only as
``url.full`` (other targets as ``worldforge.target``), a retry only as its phase and its span event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from opentelemetry.util.types import AttributeValue

from worldforge_otel import semconv
from worldforge_otel.events import EventRecord
from worldforge_otel.sanitize import JSONValue

MAX_METADATA_ATTRIBUTES = 64


def span_attributes(record: EventRecord, *, run_id: str | None) -> dict[str, AttributeValue]:
    """All attributes of the span for ``record``; metadata is flattened to ``worldforge.metadata.*``."""
    attributes: dict[str, AttributeValue] = {
        semconv.PROVIDER: record.provider,
        semconv.OPERATION: record.operation,
        semconv.PHASE: record.phase,
        semconv.CAPABILITY: semconv.capability_of(record.operation),
        semconv.ATTEMPT: record.attempt,
        semconv.MAX_ATTEMPTS: record.max_attempts,
    }
    gen_ai_operation = semconv.GEN_AI_OPERATIONS.get(record.operation)
    if gen_ai_operation is not None:
        attributes[semconv.GEN_AI_OPERATION_NAME] = gen_ai_operation
        attributes[semconv.GEN_AI_PROVIDER_NAME] = record.provider
    if record.duration_ms is not None:
        attributes[semconv.DURATION_MS] = record.duration_ms
    if record.method:
        attributes[semconv.HTTP_REQUEST_METHOD] = record.method
    if record.status_code is not None:
        attributes[semconv.HTTP_RESPONSE_STATUS_CODE] = record.status_code
    if record.target:
        # one copy: a URL is url.full (the HTTP convention), anything else worldforge.target
        attributes[semconv.URL_FULL if "://" in record.target else semconv.TARGET] = record.target
    if record.message:
        attributes[semconv.MESSAGE] = record.message
    if run_id is not None:
        attributes[semconv.RUN_ID] = run_id
    _flatten_metadata(record.metadata, semconv.METADATA_PREFIX, attributes, budget=[MAX_METADATA_ATTRIBUTES])
    return attributes


def _flatten_metadata(
    metadata: Mapping[str, JSONValue],
    prefix: str,
    attributes: dict[str, AttributeValue],
    *,
    budget: list[int],
) -> None:
    for key, value in metadata.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten_metadata(value, f"{name}.", attributes, budget=budget)
            continue
        if budget[0] <= 0:
            dropped = attributes.get(semconv.METADATA_DROPPED, 0)
            attributes[semconv.METADATA_DROPPED] = (dropped if isinstance(dropped, int) else 0) + 1
            continue
        budget[0] -= 1
        attributes[name] = _attribute_value(value)


def _attribute_value(value: JSONValue) -> AttributeValue:
    if value is None:
        return "null"
    if isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, list) and value:
        first_type = type(value[0])
        if first_type in (str, bool, int, float) and all(type(item) is first_type for item in value):
            return value  # type: ignore[return-value]  # a homogeneous primitive sequence
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def error_type(record: EventRecord) -> str:
    """``error.type`` of a failed call: the declared exception type, else the HTTP status code, else ``_OTHER``."""
    declared = record.metadata.get("error_type") or record.metadata.get("exception_type")
    if isinstance(declared, str) and declared:
        return declared
    if record.status_code is not None:
        return str(record.status_code)
    return semconv.ERROR_TYPE_OTHER
