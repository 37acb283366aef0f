"""The web's live connections (`/events`, the editors' `/yjs` relay) are capped per
client and in all."""

import pytest

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
