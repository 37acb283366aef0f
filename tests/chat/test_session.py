"""People in the chat: their messages kept apart for the agents, pause/resume, and
the session's completion as its runner tells it."""

from tests.chat.conftest import comment, page, post


def person(n: int) -> dict:
    return {"type": "person_message", "agent_id": "Ada Lovelace", "text": f"please {n}", "message_id": f"p{n}"}


async def test_people_messages_are_kept_apart_newest_last(client):
    first = await post(client, person(0))
    for n in range(60):  # agents' chatter pushes the person's word far back in the stream
        await post(client, comment(n))
    assert first not in await page(client, limit=50)
    assert (await client.get("/api/messages/people")).json()["messages"] == [first]
    posted = [await post(client, person(n)) for n in range(1, 60)]
    assert await post(client, person(59)) == posted[-1]  # idempotent: the first answer, not a second copy
    latest = (await client.get("/api/messages/people", params={"limit": 3})).json()["messages"]
    assert latest == posted[-3:]
    assert len((await client.get("/api/messages/people", params={"limit": 50})).json()["messages"]) == 50
    assert (await client.get("/api/messages/people", params={"limit": 51})).status_code == 422


async def test_pause_and_resume_are_kept_in_redis(client, chat):
    assert (await client.get("/api/session")).json() == {"paused": False, "changed_at": None, "changed_by": None,
                                                         "completion": None}
    paused = (await client.post("/api/session/pause", json={"by": "ada"})).json()
    assert paused["paused"] and paused["changed_by"] == "ada" and paused["changed_at"]
    assert (await client.get("/api/session")).json() == paused
    chat.stop()
    chat.start()  # the state is Redis's, not the process's
    assert (await client.get("/api/session")).json() == paused
    assert (await client.post("/api/session/resume")).json()["paused"] is False
    assert (await client.post("/api/session/pause", headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.post("/api/session/pause", json={"by": "x", "extra": 1})).status_code == 422


async def test_the_first_completion_told_stays(client, chat):
    versions = {"reason": "MaxVersions", "message": "the document reached 40 versions"}
    for refused, status in ((None, 401), ({"reason": "Bored"}, 422), ({**versions, "extra": 1}, 422),
                            ({"reason": "MaxDuration", "message": "x" * 501}, 422)):
        headers = {"Authorization": "Bearer wrong"} if status == 401 else None
        answer = await client.post("/api/session/complete", json=refused or versions, headers=headers)
        assert answer.status_code == status and answer.json()["error"], answer.text
    assert (await client.get("/api/session")).json()["completion"] is None  # nothing refused was kept
    told = (await client.post("/api/session/complete", json=versions)).json()
    assert told["completion"] == versions and told["paused"] is False
    later = {"reason": "MaxDuration", "message": "the session ran its 1h"}
    assert (await client.post("/api/session/complete", json=later)).json()["completion"] == versions
    assert (await client.post("/api/session/pause")).json()["completion"] == versions
    chat.stop()
    chat.start()
    assert (await client.get("/api/session")).json()["completion"] == versions
