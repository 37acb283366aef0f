"""Retries of a dependency started beside the service (common/retrying.py): the
expected first failures say once what the service waits for; only a long wait warns."""

from tenacity import AsyncRetrying, RetryCallState

from coedit.common.retrying import log_waiting


class Recorder:
    """A logger that keeps (level, event, fields)."""

    def __init__(self):
        self.lines: list[tuple[str, str, dict]] = []

    def __getattr__(self, level: str):
        return lambda event, **fields: self.lines.append((level, event, fields))


def failed(attempt: int, waited: float) -> RetryCallState:
    state = RetryCallState(AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((ConnectionRefusedError, ConnectionRefusedError(111, "refused"), None))
    state.start_time = state.outcome_timestamp - waited
    return state


def test_a_wait_is_one_info_line_then_debug_then_warnings_once_past_its_patience():
    log = Recorder()
    before_sleep = log_waiting(log, "the database", patience=15)
    for attempt, waited in [(1, 0.2), (2, 0.6), (3, 1.4), (4, 15.2), (5, 20.3)]:
        before_sleep(failed(attempt, waited))
    assert [(level, event) for level, event, _ in log.lines] == [
        ("info", "waiting for the database"),
        ("debug", "the database not ready yet"),
        ("debug", "the database not ready yet"),
        ("warning", "the database not ready, retrying"),
        ("warning", "the database not ready, retrying"),
    ]
    assert log.lines[3][2] == {"attempt": 4, "waited_s": 15.2, "error": "ConnectionRefusedError(111, 'refused')"}
