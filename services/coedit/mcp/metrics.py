from prometheus_client import Counter, Histogram

TOOL_CALLS = Counter(
    "coedit_mcp_tool_calls", "MCP tool calls by tool, outside agent and outcome "
    "(ok, a refusal's code, or error)", ["tool", "agent", "outcome"],
)
TOOL_SECONDS = Histogram("coedit_mcp_tool_duration_seconds", "MCP tool call latency", ["tool"])
