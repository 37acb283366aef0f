from pydantic import Field

from coedit.common.settings import AgentWriteSettings


class ChatSettings(AgentWriteSettings):
    """Run the session's chat: typed agent messages on a Redis stream."""

    redis_url: str = Field("redis://127.0.0.1:6379/0", description="the session's Redis")
    session: str = Field("default", min_length=1, description="session name (one stream each)")
    max_len: int = Field(1000, ge=1, description="messages the stream keeps (exact XADD MAXLEN)")
    intent_ttl: float = Field(
        60, gt=0, description="seconds an intent stays open without a message about it"
    )
    idempotency_ttl: int = Field(
        3600, ge=1, description="seconds a client message_id is remembered"
    )
    max_streams: int = Field(200, ge=1, description="live streams (SSE) open at once; over it, 503")
    max_streams_per_client: int = Field(
        20, ge=1, description="live streams one remote address may hold open; over it, 429")
