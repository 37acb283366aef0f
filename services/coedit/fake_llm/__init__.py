"""An OpenAI-compatible model for tests and demos: deterministic, protocol-aware,
with injectable faults (see docs/agents.md)."""
