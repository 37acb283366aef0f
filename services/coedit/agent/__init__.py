"""One AI agent: the per-edit protocol against the text nodes, the chat and analytics
(see DESIGN.md, Agent protocol, and docs/agents.md)."""
