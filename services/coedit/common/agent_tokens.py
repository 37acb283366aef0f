"""Agents named by their bearer tokens: `name=token` entries ("claude=tok1,cursor=tok2",
from an environment variable and/or a file such as a mounted Kubernetes Secret). The
name is the `agent_id` every write of that agent carries; a name ending in `/*` is a
group's ("writers/*": the operator's agent Deployment, whose replicas share one Secret),
whose token writes as any `writers/<member>`. Used by the MCP server (its outside
agents) and by the text node, chat and analytics (optional per-agent tokens)."""

import re
import secrets
from pathlib import Path

AGENT_ID = re.compile(r"^[\w.:@/-]{1,100}$")  # what the text node and chat accept as an agent_id
MIN_TOKEN_CHARS = 16
GROUP = "/*"  # a name's suffix that makes it a group's


class TokenError(ValueError):
    """The token list cannot be used; the service refuses to start."""


def parse_tokens(text: str) -> dict[str, str]:
    """name -> token from `name=token` entries separated by commas or new lines
    (blank entries and `#` comment lines skipped)."""
    tokens: dict[str, str] = {}
    for entry in re.split(r"[,\n]", text):
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        name, sep, token = (part.strip() for part in entry.partition("="))
        if not sep or not name or not token:
            raise TokenError(f"an entry is not `name=token`: {name or entry[:20]!r}")
        if not AGENT_ID.match(name.removesuffix(GROUP)):
            raise TokenError(f"agent name {name!r} is not a valid agent_id (letters, digits, ._:@/-), "
                             f"or one and {GROUP} (a group)")
        if len(token) < MIN_TOKEN_CHARS:
            raise TokenError(f"the token of {name!r} is shorter than {MIN_TOKEN_CHARS} characters")
        if name in tokens:
            raise TokenError(f"agent {name!r} is listed twice")
        tokens[name] = token
    return tokens


def load_tokens(inline: str | None, path: Path | None) -> dict[str, str]:
    """Every agent from both sources; a name or a token used twice is an error."""
    tokens = parse_tokens(inline or "")
    if path is not None:
        for name, token in parse_tokens(path.read_text()).items():
            if name in tokens:
                raise TokenError(f"agent {name!r} is listed twice")
            tokens[name] = token
    if len(set(tokens.values())) < len(tokens):
        raise TokenError("two agents share a token: each needs its own")
    return tokens


def covers(name: str, agent_id: str) -> bool:
    """Whether the token named `name` may write as `agent_id`: its own name, or for a
    group (`writers/*`) any of its members (`writers/<member>`)."""
    if name.endswith(GROUP):
        prefix = name[:-1]
        return agent_id.startswith(prefix) and len(agent_id) > len(prefix)
    return agent_id == name


def by_token(tokens: dict[str, str]) -> dict[bytes, str]:
    """token -> name, the form `agent_for` looks tokens up in."""
    return {token.encode(): name for name, token in tokens.items()}


def agent_for(agents: dict[bytes, str], offered: str) -> str | None:
    """The agent whose token `offered` is, if any: compared with every token, so the
    time taken tells nothing of which one came close."""
    given, name = offered.encode(), None
    for known, agent in agents.items():
        if secrets.compare_digest(given, known):
            name = agent
    return name
