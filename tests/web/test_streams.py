"""The web's live updates (`/events`) are capped per client and in all."""

from coedit.local.processes import ServiceProcess
from tests.conftest import AUTH_ENV
from tests.streams import CAP_FLAGS, assert_streams_capped


async def test_live_streams_are_capped_per_client_and_in_all(session, tmp_path):
    nodes = ",".join(node.url for node in session.cluster.nodes.values())
    web = ServiceProcess("web", ["--text-nodes", nodes, "--chat-url", session.chat.url,
                                 *CAP_FLAGS], tmp_path, name="web-capped", env=AUTH_ENV).start()
    try:
        await assert_streams_capped(web.url, "/events")
    finally:
        web.stop()
