"""The text node: one replica of the session's document (see docs/text-node.md)."""
