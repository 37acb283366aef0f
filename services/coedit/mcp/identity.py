"""Who an outside agent is: its bearer token names it. Tokens come from
`COEDIT_MCP_TOKENS` ("claude=tok1,cursor=tok2") and/or a file of such entries (a mounted
Kubernetes Secret); the name is the `agent_id` every write of that agent carries."""

import re
import secrets
from pathlib import Path

from mcp.server.auth.provider import AccessToken

AGENT_ID = re.compile(r"^[\w.:@/-]{1,100}$")  # what the text node and chat accept as an agent_id
MIN_TOKEN_CHARS = 16


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
        if not AGENT_ID.match(name):
            raise TokenError(f"agent name {name!r} is not a valid agent_id (letters, digits, ._:@/-)")
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


class AgentTokens:
    """The MCP SDK's TokenVerifier: a known token is that agent's identity (its
    `client_id`); anything else is refused with 401 by the SDK's bearer middleware."""

    def __init__(self, tokens: dict[str, str]):
        self._by_token = {token.encode(): name for name, token in tokens.items()}

    @property
    def agents(self) -> list[str]:
        return sorted(self._by_token.values())

    async def verify_token(self, token: str) -> AccessToken | None:
        offered = token.encode()
        name = None
        for known, agent in self._by_token.items():  # compare with every token: constant time
            if secrets.compare_digest(offered, known):
                name = agent
        return None if name is None else AccessToken(token=token, client_id=name, scopes=[])
