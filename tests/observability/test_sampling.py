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
