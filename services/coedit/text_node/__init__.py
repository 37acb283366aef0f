"""The text node: one replica of the session's document (see DESIGN.md, Text node)."""
