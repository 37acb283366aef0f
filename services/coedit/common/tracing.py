"""OpenTelemetry, initialised once per process. Spans are exported over OTLP/HTTP
when `OTEL_EXPORTER_OTLP_ENDPOINT` is set (the standard variable). Without an
exporter nothing is recorded (the sampler defaults to `parentbased_always_off`,
and database clients are not instrumented), but every request still gets a trace
id for the logs and passes it on. The standard `OTEL_SDK_DISABLED=true` turns all
of it off: no spans, no trace ids, no per-request tracing work at all."""

import os

from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

_initialised = False


def sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def init_tracing(service: str) -> None:
    global _initialised
    if _initialised or sdk_disabled():
        return
    _initialised = True
    exporting = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
    ))
    # spans that go nowhere cost CPU on every request and query; an explicit
    # OTEL_TRACES_SAMPLER still wins (the SDK reads it when sampler is None)
    sampler = None if exporting or os.environ.get("OTEL_TRACES_SAMPLER") else ParentBased(ALWAYS_OFF)
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)}),
        sampler=sampler,
    )
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    HTTPXClientInstrumentor().instrument()  # passes the trace on, exported or not
    if exporting:  # database spans carry nothing to the server: worth it only when exported
        AsyncPGInstrumentor().instrument()
        RedisInstrumentor().instrument()


def telemetry_config(untraced_paths: frozenset[str]) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry middleware: one server span per request
    (named like `POST /api/edits`, continuing an incoming `traceparent`), on the
    global tracer provider. Metrics are Prometheus' and logs structlog's, and
    the per-dependency/endpoint/serialization spans are off (CPU on every request)."""
    return {
        "tracing": not sdk_disabled(),
        "metrics": False,
        "logs": False,
        "operation_spans": False,
        "auto_configure": False,
        "exclude": lambda scope: scope["path"] in untraced_paths,
    }


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.shutdown()
