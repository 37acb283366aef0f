"""The OpenAI chat-completions request, as far as the fake model reads it."""

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.get("text", "") for part in self.content)
        return self.content or ""


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[Message]
    response_format: dict | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None

    @property
    def form(self) -> str | None:
        """How the request asks for JSON: json_schema, json_object+schema, json_object."""
        kind = (self.response_format or {}).get("type")
        if kind == "json_object" and "schema" in self.response_format:
            return "json_object+schema"
        return kind if kind in ("json_schema", "json_object") else None

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens
