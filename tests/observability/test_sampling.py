"""What tracing records without an exporter, and that the standard variables still win.
Tracing is set up once per process, so each case runs in a fresh interpreter."""

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json
from opentelemetry import trace
from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
from coedit.common.tracing import init_tracing
init_tracing("coedit-test")
print(json.dumps({"sampler": trace.get_tracer_provider().sampler.get_description(),
                  "asyncpg": AsyncPGInstrumentor().is_instrumented_by_opentelemetry}))
"""


def probe(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


@pytest.mark.parametrize(("env", "sampler", "asyncpg"), [
    ({}, "ParentBased{root:AlwaysOffSampler,", False),
    ({"OTEL_TRACES_SAMPLER": "always_on"}, "AlwaysOnSampler", False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}, "ParentBased{root:AlwaysOnSampler,", True),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_TRACES_SAMPLER": "traceidratio",
      "OTEL_TRACES_SAMPLER_ARG": "0.25"}, "TraceIdRatioBased{0.25}", True),
])
def test_without_an_exporter_nothing_is_recorded_unless_asked(env, sampler, asyncpg):
    found = probe(**env)
    assert found["sampler"].startswith(sampler) and found["asyncpg"] is asyncpg


SERVE_ONE_REQUEST = """
import asyncio, json
import httpx
from fastapi import APIRouter
from opentelemetry import trace
from coedit.common.app import create_service_app
from coedit.common.settings import ServiceSettings

router = APIRouter()

@router.get("/api/thing")
async def thing():
    return {"trace_id": trace.get_current_span().get_span_context().trace_id}

app = create_service_app("test", ServiceSettings(insecure_no_auth=True))
app.include_router(router)

async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get("/api/thing", headers={
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
    print(json.dumps({"status": answer.status_code, **answer.json(),
                      "sdk_provider": type(trace.get_tracer_provider()).__module__.startswith("opentelemetry.sdk")}))

asyncio.run(main())
"""


@pytest.mark.parametrize(("env", "traced"), [({}, True), ({"OTEL_SDK_DISABLED": "true"}, False)])
def test_the_sdk_can_be_disabled_with_the_standard_variable(env, traced):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", SERVE_ONE_REQUEST], env={**clean, **env},
                         capture_output=True, text=True, check=True).stdout
    found = json.loads(out.splitlines()[-1])
    assert found["status"] == 200
    # traced: the request continues the caller's trace; disabled: no provider, no trace at all
    assert found["sdk_provider"] is traced
    assert (found["trace_id"] == 0x4BF92F3577B34DA6A3CE929D0E0E4736) is traced
    assert traced or found["trace_id"] == 0
