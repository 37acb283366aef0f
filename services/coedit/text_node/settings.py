from pydantic import Field

from coedit.common.settings import AgentWriteSettings


class TextNodeSettings(AgentWriteSettings):
    """Run one text node: a replica of the session's document."""

    node_id: str = Field("a", description="this node's name, unique in the session")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/postgres", description="this node's own PostgreSQL"
    )
    peers: str = Field("", description="comma-separated base URLs of the other text nodes")
    token_budget: int = Field(100_000, ge=0, description="the session's token limit")
    initial_text: str = Field("", description="the document's text at version 0 (same on every node)")
    max_edit_chars: int = Field(10_000, ge=1, description="largest text one edit may carry")
    max_document_chars: int = Field(1_000_000, ge=1, description="edits that would grow the document past this are refused")
    reservation_ttl: float = Field(120.0, gt=0, description="seconds a budget reservation is held unless settled")
    compact_every: int = Field(
        2000, ge=1, description="records between compacted CRDT snapshots (start-up replays at most this many)"
    )
    generation_edits: int = Field(
        20_000, ge=0, description="edits one document generation holds before the nodes restart the document "
        "from its text (bounds the node's memory; 0: never)")
    max_people_connections: int = Field(
        500, ge=1, description="people's Yjs connections open at once (the web relays each editor's); over it, 503")
    sync_interval: float = Field(1.0, gt=0, description="seconds between anti-entropy rounds")

    @property
    def peer_urls(self) -> list[str]:
        return [url.strip().rstrip("/") for url in self.peers.split(",") if url.strip()]
