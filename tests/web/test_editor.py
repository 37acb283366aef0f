"""The document page's editor in real Chromium (Playwright), the page's CSP
enforced: what a signed-in person types reaches all three text nodes through the
web's Yjs relay, a second browser sees it live with the typist's cursor, and a
browser that is not signed in sees the text and cannot change it."""

import shutil
from pathlib import Path

import httpx
import pytest

from tests.conftest import AUTH_TOKEN
from tests.web.conftest import Session, started_session
from tests.web.test_browser import ARTIFACTS
from tests.web.test_pages import eventually

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="no chromium at /usr/bin/chromium (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def chromium():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def open_editor(chromium, session: Session):
    """Call with a person's name (None: not signed in) to get their document page,
    its editor synced. Each is its own browser context (its own cookies)."""
    contexts, problems = [], []

    def make(name: str | None):
        context = chromium.new_context(viewport={"width": 1200, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        if name is not None:
            page.goto(f"{session.url}/?token={AUTH_TOKEN}")  # signs in, then redirects to /
            page.fill("#person-name", name)
            page.press("#person-name", "Enter")  # the name is kept in localStorage
        page.goto(f"{session.url}/document")
        page.wait_for_selector("#editor[data-state=synced]", timeout=30_000)
        return page

    yield make
    for context in contexts:
        context.close()
    assert not problems, problems  # no script error, nothing the CSP refused


def editor_text(page) -> str:
    """The editor's text, with the other people's cursor labels (widgets in it)."""
    return page.locator("#editor .cm-content").inner_text()


def node_texts(session: Session) -> list[str]:
    return [httpx.get(f"{node.url}/api/document", timeout=10).json()["text"]
            for node in session.cluster.nodes.values()]


def test_typing_reaches_every_node_and_another_browser_sees_it_live(session, open_editor):
    ada, bob = open_editor("ada"), open_editor("bob")
    assert "Документ начинается" in editor_text(ada)
    ada.click("#editor .cm-content")
    ada.keyboard.press("Control+End")
    ada.keyboard.type(" Ада пишет сама.", delay=20)
    eventually(lambda: all(t.endswith(" Ада пишет сама.") for t in node_texts(session)), 30,
               "the typing did not reach all three nodes")
    eventually(lambda: " Ада пишет сама." in editor_text(bob), 30, "bob did not see it")
    # bob sees ada's cursor, with her name (awareness through the relay)
    eventually(lambda: "ada" in bob.locator("#editor .cm-ySelectionInfo").all_inner_texts(), 30,
               "bob does not see ada's cursor")
    edits = httpx.get(f"{session.cluster['a'].url}/api/edits", params={"limit": 1000}, timeout=10).json()["edits"]
    assert edits[-1]["kind"] == "human" and edits[-1]["agent_id"] == "ada"
    # bob answers; ada sees it
    bob.click("#editor .cm-content")
    bob.keyboard.press("Control+Home")
    bob.keyboard.type("Боб: ", delay=20)
    eventually(lambda: "Боб: " in editor_text(ada), 30, "ada did not see bob's typing")
    eventually(lambda: all(t.startswith("Боб: ") for t in node_texts(session)), 30)
    eventually(lambda: "bob" in ada.locator("#editor .cm-ySelectionInfo").all_inner_texts(), 30)
    ARTIFACTS.mkdir(exist_ok=True)
    ada.locator("#editor-section").screenshot(path=str(ARTIFACTS / "editor.png"))


def test_without_a_token_the_editor_is_read_only_but_live(session, open_editor):
    viewer = open_editor(None)
    assert viewer.locator("#editor .cm-content").get_attribute("contenteditable") == "false"
    assert "read-only" in viewer.inner_text("#editor-status")
    before = node_texts(session)
    viewer.click("#editor .cm-content")
    viewer.keyboard.type("nobody may write this")
    session.edit("viewer-sees", "agent-v", {"type": "append", "text": " Агент дописал."})
    eventually(lambda: " Агент дописал." in editor_text(viewer), 30, "the viewer does not see edits live")
    assert all("nobody may write this" not in t for t in node_texts(session))
    # an agent's open intent is highlighted on its anchor
    session.say({"type": "edit_intent", "agent_id": "agent-v", "intent_id": "editor-i1",
                 "summary": "про сказки", "anchor": "читали детям сказки"})
    mark = viewer.locator("#editor .cm-intent", has_text="читали детям сказки")  # others' may be open too
    eventually(lambda: mark.count() == 1, 30, "no intent mark")
    assert mark.inner_text() == "читали детям сказки" and mark.get_attribute("title") == "agent-v: про сказки"
    assert [t + " Агент дописал." for t in before[:1]] == node_texts(session)[:1]


def stale_changes(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(line.split()[-1]) for line in metrics.splitlines()
               if line.startswith('coedit_people_changes_total{outcome="stale"}'))


@pytest.fixture(scope="module")
def switching_session():
    """A session of its own whose nodes restart the document every 5 edits."""
    with started_session(("--generation-edits", "5")) as started:
        yield started


def test_the_editor_starts_over_when_the_document_restarts(chromium, switching_session):
    """The text nodes start a new document generation (generations.py): the page's
    editor is closed with RESTARTED, starts over with a new Y.Doc on its own, shows
    the text, and what the person types then reaches every node."""
    session = switching_session
    context = chromium.new_context(viewport={"width": 1200, "height": 900})
    problems = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{session.url}/?token={AUTH_TOKEN}")
        page.fill("#person-name", "ada")
        page.press("#person-name", "Enter")
        page.goto(f"{session.url}/document")
        page.wait_for_selector("#editor[data-state=synced]", timeout=30_000)
        for i in range(6):
            session.edit(f"restart-{i}", "agent-r", {"type": "append", "text": f" r{i}"}, node="abc"[i % 3])
        page.wait_for_selector("#editor[data-restarts='1'][data-state=synced]", timeout=30_000)
        assert "restarted" in page.inner_text("#editor-status")
        eventually(lambda: editor_text(page).endswith(" r5"), 30, "the restarted editor lacks the text")
        page.click("#editor .cm-content")
        page.keyboard.press("Control+End")
        page.keyboard.type(" Ада снова.", delay=20)
        eventually(lambda: all(t.endswith(" r5 Ада снова.") for t in node_texts(session)), 30,
                   "typing after the restart did not reach the nodes")
        assert page.locator("#editor .cm-editor").count() == 1  # the old view went with the old Y.Doc
        generation = httpx.get(f"{session.cluster['a'].url}/api/replication", timeout=10).json()["generation"]
        assert generation >= 1
        edits = httpx.get(f"{session.cluster['a'].url}/api/edits", params={"limit": 1000}, timeout=10).json()["edits"]
        assert edits[-1]["kind"] == "human" and edits[-1]["agent_id"] == "ada"
        # the editor never came back with its old Y.Doc: no node refused a stale client
        assert sum(stale_changes(node.url) for node in session.cluster.nodes.values()) == 0
    finally:
        context.close()
    assert not problems, problems
