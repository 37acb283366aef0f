"""Agents' tokens (outside agents', and the text node's, chat's and analytics' own):
parsed strictly, so a bad list stops the service at start-up."""

import pytest

from coedit.common.agent_tokens import TokenError, covers, load_tokens, parse_tokens
from coedit.mcp.identity import AgentTokens

A, B = "a-token-0123456789", "b-token-0123456789"


def test_entries_from_commas_and_lines():
    assert parse_tokens(f"claude={A}, cursor = {B}\n") == {"claude": A, "cursor": B}
    assert parse_tokens(f"# outside agents\nclaude={A}\n\ncursor={B}") == {"claude": A, "cursor": B}
    assert parse_tokens("") == {}


@pytest.mark.parametrize("text, error", [
    ("claude", "not `name=token`"),
    (f"=={A}", "not `name=token`"),
    (f"cla ude={A}", "not a valid agent_id"),
    ("claude=short", "shorter than 16"),
    (f"claude={A},claude={B}", "listed twice"),
])
def test_bad_entries_are_refused(text, error):
    with pytest.raises(TokenError, match=error):
        parse_tokens(text)


def test_a_group_s_token_writes_as_its_members_only():
    assert parse_tokens(f"writers/*={A}") == {"writers/*": A}
    assert covers("writers/*", "writers/pod-1") and covers("ada", "ada")
    assert not covers("writers/*", "writers") and not covers("writers/*", "writers/")
    assert not covers("writers/*", "writers-b/pod-1") and not covers("ada", "ada/1")
    with pytest.raises(TokenError, match="not a valid agent_id"):
        parse_tokens(f"wri ters/*={A}")


def test_an_outside_agent_is_never_a_group():
    with pytest.raises(TokenError, match="not a group"):
        AgentTokens({"writers/*": A})


def test_an_outside_agent_s_name_leaves_room_for_the_ids_made_from_it():
    assert AgentTokens({"c" * 64: A}).agents == ["c" * 64]
    with pytest.raises(TokenError, match="at most 64 characters"):
        AgentTokens({"c" * 65: A})


def test_a_file_adds_agents_and_may_not_repeat_names_or_tokens(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(f"cursor={B}\n")
    assert load_tokens(f"claude={A}", path) == {"claude": A, "cursor": B}
    with pytest.raises(TokenError, match="listed twice"):
        load_tokens(f"cursor={A}", path)
    with pytest.raises(TokenError, match="share a token"):
        load_tokens(f"claude={B}", path)


async def test_a_token_names_its_agent():
    tokens = AgentTokens({"claude": A, "cursor": B})
    assert (await tokens.verify_token(B)).client_id == "cursor"
    assert await tokens.verify_token(A + "x") is None
    assert await tokens.verify_token("") is None
    assert tokens.agents == ["claude", "cursor"]
