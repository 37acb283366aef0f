from pathlib import Path

from pydantic import Field

from coedit.common.settings import Secret, ServiceSettings


class McpSettings(ServiceSettings):
    """Serve the session over MCP (streamable HTTP at /mcp) for outside agents."""

    text_nodes: str = Field(
        "http://127.0.0.1:8001", description="comma-separated text node URLs, tried in turn"
    )
    chat_url: str = Field("http://127.0.0.1:8010", description="the chat service")
    analytics_url: str = Field("http://127.0.0.1:8020", description="the analytics service")
    mcp_tokens: Secret = Field(
        None, description='outside agents and their bearer tokens: "claude=tok1,cursor=tok2" '
        "(the name is the agent_id its writes carry; COEDIT_MCP_TOKENS only)",
    )
    mcp_tokens_file: Path | None = Field(
        None, description="a file of `name=token` entries (one a line, or comma-separated), "
        "e.g. a mounted Kubernetes Secret; read at start-up, beside COEDIT_MCP_TOKENS",
    )
    writes_per_minute: int = Field(
        30, ge=1, description="intents, edits and comments one outside agent may post in any "
        "minute (a moving window)",
    )
    edit_radius: int = Field(
        200, ge=0, description="how far (characters) from its intent's anchor an edit may be"
    )
    excerpt_chars: int = Field(
        2000, ge=100, description="characters read_document answers by default"
    )
    chat_tail: int = Field(50, ge=1, le=1000, description="messages the chat resource shows")
    unsure_edit_timeout: float = Field(
        30.0, ge=0, description="how long to keep asking the node that got an edit and then "
        "failed to answer before the edit's outcome is reported unknown",
    )

    @property
    def text_node_urls(self) -> list[str]:
        return [url.strip().rstrip("/") for url in self.text_nodes.split(",") if url.strip()]
