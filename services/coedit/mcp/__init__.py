"""`coedit mcp`: the session as an MCP server, so outside agents can join it."""
