"""Operator settings that decide how replicas share the work."""

from coedit_operator.settings import OperatorSettings


def test_each_process_picks_its_own_peering_priority(monkeypatch):
    # kopf pauses every replica of a peering when the highest priorities are equal
    priorities = {OperatorSettings(render=None).priority for _ in range(20)}
    assert len(priorities) > 1 and all(1 <= p <= 32767 for p in priorities)
    monkeypatch.setenv("COEDIT_PRIORITY", "7")
    assert OperatorSettings(render=None).priority == 7
