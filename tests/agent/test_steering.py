"""People steer the agents: their chat messages are in every prompt, and a paused
session starts no model call and submits no edit."""

from coedit.agent.cycle import EditCycle
from tests.agent.conftest import TEXT


def say(peers, text: str, name: str = "Ada") -> None:
    peers.messages.append({"type": "person_message", "agent_id": name, "text": text,
                           "id": f"{len(peers.messages) + 1}-0"})


async def test_the_latest_people_messages_are_in_every_prompt(make_agent, peers, model):
    for n in range(7):
        say(peers, f"wish {n}")
    say(peers, "Let the robots sing at the end", name="Bob")
    agent, _ = make_agent()
    assert (await EditCycle(agent, 1).run()).applied
    assert model.prompts
    for system, user in model.prompts:
        assert "their word outranks the topic" in system["content"]
        assert '"name": "Bob", "text": "Let the robots sing at the end"' in user["content"]
        assert "wish 3" in user["content"] and "wish 2" not in user["content"]  # the latest five


async def test_no_people_no_people_section(make_agent, peers, model):
    agent, _ = make_agent()
    await EditCycle(agent, 1).run()
    assert model.prompts and all("<people>" not in user["content"] for _, user in model.prompts)


async def test_a_paused_session_asks_no_model_and_submits_nothing_until_resumed(make_agent, peers, model, sleeps):
    peers.paused = True
    agent, _ = make_agent()

    async def resume_after_a_while(seconds: float) -> None:
        sleeps.append(seconds)
        assert not model.calls and not peers.edits  # nothing happens while paused
        if len(sleeps) == 5:
            peers.paused = False

    agent._sleep = resume_after_a_while
    outcome = await EditCycle(agent, 1).run()
    assert sleeps == [1.0] * 5 and outcome.applied and peers.text != TEXT


async def test_a_pause_between_review_and_submit_holds_the_edit(make_agent, peers, model, sleeps):
    agent, _ = make_agent()

    calls = []
    original = agent.ask

    async def ask_then_pause(phase, messages):
        reply = await original(phase, messages)
        calls.append(phase.value)
        if phase.value == "review":
            peers.paused = True
        return reply

    async def resume_later(seconds: float) -> None:
        sleeps.append(seconds)
        assert not peers.edits
        peers.paused = len(sleeps) < 3

    agent.ask, agent._sleep = ask_then_pause, resume_later
    outcome = await EditCycle(agent, 1).run()
    assert calls[-1] == "review" and sleeps == [1.0] * 3 and outcome.applied
