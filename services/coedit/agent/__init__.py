"""One AI agent: the per-edit protocol against the text nodes, the chat and analytics
(see docs/agents.md)."""
