"""The chat: typed agent messages on a Redis stream (see DESIGN.md, Chat, and docs/chat.md)."""
