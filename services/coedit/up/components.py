"""Which processes a local session runs, with which flags, on which ports."""

import os
import secrets
import sys
from dataclasses import dataclass, field

from coedit.common.money import tokens_bought
from coedit.common.stopping import Limits
from coedit.local.servers import free_port, port_is_free
from coedit.up import local_llm
from coedit.up.session_file import SessionConfig
from coedit.up.settings import UpSettings

NODES = ("a", "b", "c")
PERSONAS = {
    "ru": ["сюжетник", "стилист", "редактор", "диалогист", "фантаст"],
    "en": ["plotter", "stylist", "editor", "dialogue writer", "world builder"],
}
# Offsets from --port (the web UI's): text nodes on 8001-8003, chat 8010, analytics
# 8020, the fake model 8090 by default, the URLs `coedit agent` assumes by default;
# the local model (`--llm local`) 8091. `up` is the runner's own status API (agents'
# process states, for the web UI); `mcp` serves outside agents (Claude Code, Cursor...) at /mcp.
PORT_OFFSETS = {"text-a": 1, "text-b": 2, "text-c": 3, "chat": 10, "analytics": 20, "mcp": 30,
                "fake-llm": 90, "local-llm": 91, "up": 99}
# What answers 200 once a component of that kind serves (an agent has no port).
READY_PATHS = {"service": "/readyz", "model": local_llm.READY_PATH}
SERVERS = ("pg-a", "pg-b", "pg-c", "pg-analytics", "redis")


@dataclass
class Component:
    name: str
    command: str
    args: list[str]
    kind: str = "service"  # see READY_PATHS; an agent has no port
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    program: list[str] | None = None  # another program's argv, instead of `coedit <command> --port P`

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    @property
    def ready_url(self) -> str | None:
        return f"{self.url}{READY_PATHS[self.kind]}" if self.port else None

    @property
    def argv(self) -> list[str]:
        if self.program is not None:
            return [*self.program, *self.args]
        port = ["--port", str(self.port)] if self.port else []
        return [sys.executable, "-m", "coedit", self.command, *port, *self.args]


def derive_ports(base: int, is_free=port_is_free) -> dict[str, int]:
    """Each service's port: --port plus its offset when that one is free, else any free port."""
    ports = {}
    for name, offset in PORT_OFFSETS.items():
        wanted = base + offset
        ports[name] = wanted if wanted <= 65535 and is_free(wanted) else free_port()
    return ports


def session_limits(settings: UpSettings, budget: int) -> Limits:
    """The stop conditions, with `budget` (the session's, fixed at its first run)
    lowered to what --usd buys."""
    bought = None if settings.usd is None else tokens_bought(settings.usd, [settings.price_input, settings.price_output])
    tokens = budget if bought is None else min(budget, bought)
    return Limits(tokens=tokens, money_bound=tokens < budget, usd=settings.usd, max_versions=settings.max_versions,
                  max_duration=settings.max_duration)


def new_agent_tokens(agents: int) -> dict[str, str]:
    """A fresh token of its own for each agent (`agent-1`...), for this run only: the
    services that take agents' writes know them all, each agent only its own."""
    return {f"agent-{n}": secrets.token_urlsafe(24) for n in range(1, agents + 1)}


def plan(settings: UpSettings, session: SessionConfig, ports: dict[str, int],
         servers: dict[str, str]) -> list[Component]:
    """Every component of the session in start order (services, web, agents). The
    agents hold their own tokens, never the session's: one writes only as itself."""
    # secrets go by environment, never as flags: any local user reads argv in `ps`
    token_env = {"COEDIT_AUTH_TOKEN": session.auth_token}
    agent_tokens = new_agent_tokens(settings.agents)
    writes_env = {**token_env, **({"COEDIT_AGENT_TOKENS": ",".join(f"{agent}={token}" for agent, token in
                                                                 agent_tokens.items())} if agent_tokens else {})}
    node_urls = {n: f"http://127.0.0.1:{ports[f'text-{n}']}" for n in NODES}
    components = [
        Component(
            f"text-{n}", "text-node",
            ["--node-id", n, "--database-url", servers[f"pg-{n}"],
             "--peers", ",".join(url for m, url in node_urls.items() if m != n),
             "--token-budget", str(session_limits(settings, session.budget).tokens), "--initial-text", session.initial_text],
            port=ports[f"text-{n}"], env=writes_env,
        )
        for n in NODES
    ]
    components += [
        Component("chat", "chat", ["--redis-url", servers["redis"], "--session", session.session_name],
                  port=ports["chat"], env=writes_env),
        Component("analytics", "analytics", ["--database-url", servers["pg-analytics"]],
                  port=ports["analytics"], env=writes_env),
    ]
    text_nodes = ",".join(node_urls.values())
    service_urls = {"chat": f"http://127.0.0.1:{ports['chat']}",
                    "analytics": f"http://127.0.0.1:{ports['analytics']}"}
    components.append(Component(
        "mcp", "mcp",
        ["--text-nodes", text_nodes, "--chat-url", service_urls["chat"],
         "--analytics-url", service_urls["analytics"]],
        port=ports["mcp"],
        env={**token_env, "COEDIT_MCP_TOKENS": f"{settings.mcp_agent}={session.mcp_token}"},
    ))
    api_key = os.environ.get("OPENAI_API_KEY") if settings.llm == "auto" else None
    model_env = {"OPENAI_API_KEY": api_key} if api_key else {}
    if api_key:
        llm_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        model = settings.model or "gpt-4o-mini"
    elif settings.llm == "local":
        python = local_llm.local_llm_python()
        components.append(Component(
            "local-llm", "local-llm", local_llm.server_args(local_llm.find_model(python), ports["local-llm"]),
            kind="model", port=ports["local-llm"], program=[python],
        ))
        llm_url, model = f"http://127.0.0.1:{ports['local-llm']}/v1", local_llm.MODEL_ALIAS
    else:
        model_key = secrets.token_urlsafe(24)  # the fake model's own: an agent holds no session token
        components.append(Component(
            "fake-llm", "fake-llm",
            ["--seed", str(settings.seed), "--latency-ms", str(settings.fake_latency_ms)],
            port=ports["fake-llm"], env={"COEDIT_AUTH_TOKEN": model_key},
        ))
        model_env = {"COEDIT_LLM_API_KEY": model_key}
        llm_url, model = f"http://127.0.0.1:{ports['fake-llm']}/v1", settings.model or "fake"
    components.append(Component(
        "web", "web",
        ["--text-nodes", text_nodes, "--chat-url", service_urls["chat"],
         "--analytics-url", service_urls["analytics"], "--session-name", session.session_name,
         "--agents-status-url", f"http://127.0.0.1:{ports['up']}/api/agents"],
        port=settings.port, env=token_env,
    ))
    personas = PERSONAS["en" if session.language == "en" else "ru"]
    for n, (agent, token) in enumerate(agent_tokens.items(), 1):
        # Rotate the node order so the agents spread their writes over the three nodes.
        urls = list(node_urls.values())
        urls = urls[n % 3:] + urls[: n % 3]
        components.append(Component(
            agent, "agent",
            ["--agent-id", agent, "--persona", personas[(n - 1) % len(personas)],
             "--topic", session.topic, "--language", session.language,
             "--text-nodes", ",".join(urls), "--chat-url", service_urls["chat"],
             "--analytics-url", service_urls["analytics"], "--llm-base-url", llm_url,
             "--model", model, "--price-input", str(settings.price_input),
             "--price-output", str(settings.price_output)],
            kind="agent", env={"COEDIT_AUTH_TOKEN": token, **model_env},
        ))
    return components


def mcp_connect_command(mcp_url: str, token: str) -> str:
    """What connects Claude Code to the session's MCP server (docs/mcp.md has others)."""
    return (f"claude mcp add --transport http coedit {mcp_url}/mcp "
            f'--header "Authorization: Bearer {token}"')
