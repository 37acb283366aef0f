"""Who an outside agent is: its bearer token names it. Tokens come from
`COEDIT_MCP_TOKENS` ("claude=tok1,cursor=tok2") and/or a file of such entries (a mounted
Kubernetes Secret), parsed by `coedit.common.agent_tokens`."""

from mcp.server.auth.provider import AccessToken

from coedit.common.agent_tokens import GROUP, TokenError, agent_for, by_token

# The ids the server makes from a name (intents, edits, comments and spends with the
# agent's own ids) must fit the services' 200-character ids: a longer name stops it.
MAX_NAME = 64


class AgentTokens:
    """The MCP SDK's TokenVerifier: a known token is that agent's identity (its
    `client_id`); anything else is refused with 401 by the SDK's bearer middleware."""

    def __init__(self, tokens: dict[str, str]):
        if groups := [name for name in tokens if name.endswith(GROUP)]:
            raise TokenError(f"an outside agent is one agent, not a group: {', '.join(groups)}")
        if long := [name for name in tokens if len(name) > MAX_NAME]:
            raise TokenError(f"an outside agent's name is at most {MAX_NAME} characters: {long[0][:80]}…")
        self._by_token = by_token(tokens)

    @property
    def agents(self) -> list[str]:
        return sorted(self._by_token.values())

    async def verify_token(self, token: str) -> AccessToken | None:
        name = agent_for(self._by_token, token)
        return None if name is None else AccessToken(token=token, client_id=name, scopes=[])
