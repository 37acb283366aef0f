from pydantic import Field, field_validator

from coedit.common.settings import ServiceSettings

# How a request asks for JSON (`response_format`), named as the agent's negotiation names them.
FORMS = ("json_schema", "json_object+schema", "json_object")


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
    # Quirks of real servers, for the agents' tests.
    refuse_formats: str = Field(
        "", description="comma-separated response_format forms answered 500, as llama-cpp-python "
        f"0.3.36 answers json_schema ({', '.join(FORMS)})",
    )
    refuse_temperature: bool = Field(
        False, description="answer 400 to a request that sets temperature (OpenAI's reasoning models)"
    )
    ignore_json_only: bool = Field(
        False, description="without a JSON response_format, answer prose instead of the JSON asked for"
    )
    prompt_bytes_per_token: int = Field(
        4, ge=1, le=4, description="UTF-8 bytes a prompt token counts in the reported usage "
        "(4: about OpenAI's tokenizers on prose; 1: the most any byte-level tokenizer counts)",
    )
    ramble_tokens: int = Field(
        0, ge=0, description="go on for this many tokens after each answer (cut at max_tokens)"
    )

    @field_validator("refuse_formats")
    @classmethod
    def _known_forms(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",") if name.strip()]
        unknown = set(names) - set(FORMS)
        if unknown:
            raise ValueError(f"unknown forms {sorted(unknown)}; known: {list(FORMS)}")
        return ",".join(names)

    @property
    def refused_forms(self) -> set[str]:
        return set(filter(None, self.refuse_formats.split(",")))
