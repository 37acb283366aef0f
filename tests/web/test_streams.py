"""The web's live connections (`/events`, the editors' `/yjs` relay) are capped per
client and in all."""

import time

import pytest
from websockets.sync.client import connect

from coedit.local.processes import ServiceProcess
from tests.conftest import AUTH_ENV
from tests.streams import CAP_FLAGS, assert_streams_capped, assert_websockets_capped


@pytest.fixture
def capped_web(session, tmp_path):
    nodes = ",".join(node.url for node in session.cluster.nodes.values())
    web = ServiceProcess("web", ["--text-nodes", nodes, "--chat-url", session.chat.url,
                                 *CAP_FLAGS], tmp_path, name="web-capped", env=AUTH_ENV).start()
    yield web
    web.stop()


async def test_live_streams_are_capped_per_client_and_in_all(capped_web):
    await assert_streams_capped(capped_web.url, "/events")


def test_editor_relays_are_capped_per_client_and_in_all_even_for_readers(capped_web):
    """A relay holds a connection to a text node too: anyone, signed in or not, could
    otherwise open them without end."""
    assert_websockets_capped(capped_web.url.replace("http://", "ws://") + "/yjs/document?name=reader")


def test_an_editor_that_leaves_first_leaves_no_error_behind(session):
    """A person leaving the document page closes the relay from the browser's side."""
    url = session.url.replace("http://", "ws://") + "/yjs/document?name=reader"
    for _ in range(3):
        with connect(url, open_timeout=5) as websocket:
            websocket.recv(timeout=5)  # the node's sync step 1, relayed
    time.sleep(1)  # the relay closes its side after the browser's
    assert "Exception in ASGI application" not in session.web.log_path.read_text(errors="replace")
