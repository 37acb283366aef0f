"""`session.json`: the part of the `coedit up` flags that must stay the same for the
life of a data directory (the text nodes' genesis: initial text and budget; the auth
token), fixed at its first run."""

import secrets
from pathlib import Path

from pydantic import BaseModel

from coedit.up.files import save_private
from coedit.up.settings import UpSettings

SESSION_FILE = "session.json"

# The seed demo's starting text and topic (reference/seed-demo.md, slide 5).
SEED_TEXT = (
    "Документ начинается здесь. В далёком XXIII веке, когда над городами тихо проплывали "
    "орбитальные станции, а по ночам в окнах вместо звёзд мерцали огни ремонтных дронов, детям "
    "всё равно было немного страшно в темноте. Роботы-няни читали им сказки про космос, следили "
    "за кошмарами в снах и аккуратно приглушали свет, но сами тайком задавали друг другу один и "
    "тот же вопрос: что значит быть «хорошим человеком»?"
)
SEED_TOPIC = "научно-фантастический детский рассказ про роботов, которые хотят стать людьми с моралью"


class SessionConfig(BaseModel):
    """Fixed at the first `coedit up` of a data directory."""

    session_name: str
    initial_text: str
    budget: int
    auth_token: str
    topic: str
    language: str


def load_session(data_dir: Path) -> SessionConfig | None:
    path = Path(data_dir) / SESSION_FILE
    return SessionConfig.model_validate_json(path.read_text()) if path.exists() else None


def resolve_session(settings: UpSettings) -> tuple[SessionConfig, list[str]]:
    """The stored session when there is one (genesis fields win over the flags,
    with a warning each), else a new one from the flags. Saves it."""
    stored = load_session(settings.data_dir)
    wanted = {
        "session_name": settings.session_name,
        "initial_text": _initial_text(settings),
        "budget": settings.budget,
        "topic": settings.topic or SEED_TOPIC,
        "language": settings.language,
    }
    warnings = []
    if stored is None:
        session = SessionConfig(
            **{**wanted, "initial_text": wanted["initial_text"] or SEED_TEXT},
            auth_token=secrets.token_urlsafe(24),
        )
    else:
        given = settings.model_fields_set
        flags = {"initial_text": {"initial_text", "initial_text_file"}, "budget": {"budget"},
                 "session_name": {"session_name"}}
        for name, sources in flags.items():
            if given & sources and wanted[name] != getattr(stored, name):
                warnings.append(f"--{name.replace('_', '-')} ignored: {settings.data_dir} keeps "
                                "the first run's value (start a new --data-dir to change it)")
        # The topic and language only steer the agents, so the flags may change them.
        session = stored.model_copy(update={k: wanted[k] for k in ("topic", "language")
                                            if given & {k}})
    save_private(Path(settings.data_dir) / SESSION_FILE, session.model_dump())
    return session, warnings


def _initial_text(settings: UpSettings) -> str | None:
    if settings.initial_text_file is not None:
        return settings.initial_text_file.read_text(encoding="utf-8")
    return settings.initial_text
