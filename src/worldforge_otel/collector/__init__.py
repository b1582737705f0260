"""Collector mode: receive OTLP (gRPC, HTTP/protobuf, HTTP/JSON) or read OTLP/JSON files into Rerun.

``worldforge-otel receive`` makes Rerun one more backend of an OpenTelemetry Collector (or of any OTLP
sender): what arrives is decoded (:mod:`.decode`) into the SDK's own span, metric and log objects and handed
to the same Rerun exporters a process uses in-process (:mod:`.pipeline`), so the recording has the same
layout. ``worldforge-otel convert`` does the same with the Collector file exporter's JSON lines (:mod:`.files`).
Needs the ``collector`` extra (grpcio, uvicorn, opentelemetry-proto, googleapis-common-protos).
"""
