from pydantic import Field

from coedit.common.settings import ServiceSettings


def _urls(value: str) -> list[str]:
    return [url.strip().rstrip("/") for url in value.split(",") if url.strip()]


class WebSettings(ServiceSettings):
    """Run the web UI: live pages over the session's text nodes, chat and analytics."""

    text_nodes: str = Field("", description="comma-separated base URLs of the session's text nodes")
    chat_url: str | None = Field(None, description="base URL of the session's chat")
    analytics_url: str | None = Field(None, description="base URL of the session's analytics")
    agents_status_url: str | None = Field(
        None,
        description='optional URL answering {"agents": [{"agent_id", "state", "detail"?}]} '
        "(e.g. from `coedit up`); without it agent states are derived from chat and analytics",
    )
    session_name: str = Field("coedit", min_length=1, description="session name shown in the UI")
    poll_interval: float = Field(
        0.5, gt=0, description="seconds between server-side checks of the text nodes"
    )
    analytics_interval: float = Field(5.0, gt=0, description="seconds between analytics refreshes")
    upstream_timeout: float = Field(3.0, gt=0, description="seconds before an upstream call fails")
    max_streams: int = Field(200, ge=1, description="live streams (SSE and editors' WebSockets) open at once; over it, 503")
    max_streams_per_client: int = Field(
        20, ge=1, description="live streams one remote address may hold open; over it, 429")

    @property
    def text_node_urls(self) -> list[str]:
        return _urls(self.text_nodes)
