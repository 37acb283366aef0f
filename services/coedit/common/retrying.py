"""How a service logs its retries while a dependency it was started beside comes up.

`coedit up` (and a Kubernetes pod) starts a service with its database, not after it,
so the first failed connections are the expected start, not a fault: one info line
says what the service waits for, the next attempts go to debug, and only a wait
longer than `PATIENCE_SECONDS` is logged as a warning on every attempt."""

from collections.abc import Callable

from tenacity import RetryCallState

PATIENCE_SECONDS = 15.0  # a first start of PostgreSQL (initdb included) takes about 10 s here


def log_waiting(log, dependency: str, patience: float = PATIENCE_SECONDS) -> Callable[[RetryCallState], None]:
    """A tenacity `before_sleep` logging each failed attempt to reach `dependency`."""

    def before_sleep(state: RetryCallState) -> None:
        waited = state.seconds_since_start or 0.0
        fields = {"attempt": state.attempt_number, "waited_s": round(waited, 1),
                  "error": repr(state.outcome.exception())}
        if waited >= patience:
            log.warning(f"{dependency} not ready, retrying", **fields)
        elif state.attempt_number == 1:
            log.info(f"waiting for {dependency}", **fields)
        else:
            log.debug(f"{dependency} not ready yet", **fields)

    return before_sleep
