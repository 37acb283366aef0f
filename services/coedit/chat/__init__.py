"""The chat: typed agent messages on a Redis stream (see docs/chat.md)."""
