import pytest

from coedit_operator.spec import InvalidSpec, parse_session
from tests.operator.helpers import EXAMPLES, body, load_example, session


def test_an_empty_spec_gets_every_default():
    parsed = session()
    assert parsed.spec.text_nodes.count == 3
    assert parsed.spec.agents.replicas == 3
    assert [group.name for group in parsed.spec.agents.groups] == ["writers"]
    assert parsed.spec.budget.tokens == 100_000
    assert parsed.spec.chat.max_len == 1000
    assert parsed.status.phase == "Pending"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_every_example_parses(path):
    parsed = parse_session(load_example(path))
    assert parsed.spec.agents.groups


def test_the_robot_story_is_the_seed_experiment():
    parsed = parse_session(load_example(next(p for p in EXAMPLES if p.name == "robots-story.yaml")))
    assert parsed.spec.agents.replicas == 10
    assert parsed.spec.document.language == "ru"
    assert parsed.spec.document.initial_text.startswith("Документ начинается здесь.")


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (body(agents={"groups": [{"name": "a"}, {"name": "a"}]}), "unique"),
        (body(ingress={"tls": {"secretName": "cert"}}), "ingress.tls needs ingress.host"),
        (body(name="x" * 41), "metadata.name"),
        (body(textNodes={"count": 8}), "spec.textNodes.count"),
        (body(budget={"tokens": 0}), "spec.budget.tokens"),
        (body(agents={"groups": []}), "spec.agents.groups"),
        (body(surprise=True), "spec.surprise"),
    ],
)
def test_invalid_specs_name_the_problem(raw, problem):
    with pytest.raises(InvalidSpec, match=problem.replace(".", r"\.")):
        parse_session(raw)
