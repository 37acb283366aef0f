"""Which processes a local session runs, with which flags, on which ports."""

import os
from dataclasses import dataclass, field

from coedit.local.servers import free_port, port_is_free
from coedit.up.session_file import SessionConfig
from coedit.up.settings import UpSettings

NODES = ("a", "b", "c")
PERSONAS = {
    "ru": ["сюжетник", "стилист", "редактор", "диалогист", "фантаст"],
    "en": ["plotter", "stylist", "editor", "dialogue writer", "world builder"],
}
# Offsets from --port (the web UI's): text nodes on 8001-8003, chat 8010, analytics
# 8020, the fake model 8090 by default, the URLs `coedit agent` assumes by default.
# `up` is the runner's own status API (agents' process states, for the web UI).
PORT_OFFSETS = {"text-a": 1, "text-b": 2, "text-c": 3, "chat": 10, "analytics": 20, "fake-llm": 90,
                "up": 99}
SERVERS = ("pg-a", "pg-b", "pg-c", "pg-analytics", "redis")


@dataclass
class Component:
    name: str
    command: str
    args: list[str]
    kind: str = "service"  # a service is ready at /readyz; an agent has no port
    port: int | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}" if self.port else None

    @property
    def argv(self) -> list[str]:
        return [self.command, *(["--port", str(self.port)] if self.port else []), *self.args]


def derive_ports(base: int, is_free=port_is_free) -> dict[str, int]:
    """Each service's port: --port plus its offset when that one is free, else any free port."""
    ports = {}
    for name, offset in PORT_OFFSETS.items():
        wanted = base + offset
        ports[name] = wanted if wanted <= 65535 and is_free(wanted) else free_port()
    return ports


def plan(settings: UpSettings, session: SessionConfig, ports: dict[str, int],
         servers: dict[str, str]) -> list[Component]:
    """Every component of the session in start order (services, web, agents)."""
    token_env = {"COEDIT_AUTH_TOKEN": session.auth_token}
    node_urls = {n: f"http://127.0.0.1:{ports[f'text-{n}']}" for n in NODES}
    components = [
        Component(
            f"text-{n}", "text-node",
            ["--node-id", n, "--database-url", servers[f"pg-{n}"],
             "--peers", ",".join(url for m, url in node_urls.items() if m != n),
             "--token-budget", str(session.budget), "--initial-text", session.initial_text],
            port=ports[f"text-{n}"], env=token_env,
        )
        for n in NODES
    ]
    components += [
        Component("chat", "chat", ["--redis-url", servers["redis"], "--session", session.session_name],
                  port=ports["chat"], env=token_env),
        Component("analytics", "analytics", ["--database-url", servers["pg-analytics"]],
                  port=ports["analytics"], env=token_env),
    ]
    api_key = os.environ.get("OPENAI_API_KEY")
    if api_key:
        llm_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
        model = settings.model or "gpt-4o-mini"
    else:
        components.append(Component(
            "fake-llm", "fake-llm",
            ["--seed", str(settings.seed), "--latency-ms", str(settings.fake_latency_ms)],
            port=ports["fake-llm"],
        ))
        llm_url, model = f"http://127.0.0.1:{ports['fake-llm']}/v1", settings.model or "fake"
    text_nodes = ",".join(node_urls.values())
    service_urls = {"chat": f"http://127.0.0.1:{ports['chat']}",
                    "analytics": f"http://127.0.0.1:{ports['analytics']}"}
    components.append(Component(
        "web", "web",
        ["--text-nodes", text_nodes, "--chat-url", service_urls["chat"],
         "--analytics-url", service_urls["analytics"], "--session-name", session.session_name,
         "--agents-status-url", f"http://127.0.0.1:{ports['up']}/api/agents"],
        port=settings.port, env=token_env,
    ))
    personas = PERSONAS["en" if session.language == "en" else "ru"]
    for n in range(1, settings.agents + 1):
        # Rotate the node order so the agents spread their writes over the three nodes.
        urls = list(node_urls.values())
        urls = urls[n % 3:] + urls[: n % 3]
        components.append(Component(
            f"agent-{n}", "agent",
            ["--agent-id", f"agent-{n}", "--persona", personas[(n - 1) % len(personas)],
             "--topic", session.topic, "--language", session.language,
             "--text-nodes", ",".join(urls), "--chat-url", service_urls["chat"],
             "--analytics-url", service_urls["analytics"], "--llm-base-url", llm_url,
             "--model", model],
            kind="agent", env={**token_env, **({"OPENAI_API_KEY": api_key} if api_key else {})},
        ))
    return components
