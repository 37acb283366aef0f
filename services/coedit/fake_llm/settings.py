from pydantic import Field

from coedit.common.settings import ServiceSettings


class FakeLLMSettings(ServiceSettings):
    """Run an OpenAI-compatible fake model that speaks the agents' protocol."""

    seed: int = Field(0, description="same seed and same request, same answer")
    model: str = Field("coedit-fake", description="the model name /v1/models lists")
    error_rate: float = Field(
        0.0, ge=0, le=1, description="share of requests answered 500 or 429 (half each)"
    )
    invalid_json_rate: float = Field(
        0.0, ge=0, le=1, description="share of JSON answers returned broken"
    )
    latency_ms: int = Field(0, ge=0, description="delay before every completion")
