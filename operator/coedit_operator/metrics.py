"""The operator's Prometheus metrics, served on their own port (`--metrics-port`).

Each operator has its own registry (tests run several in one process); names follow the
Prometheus conventions: a `coedit_operator_` prefix, `_total` on counters, base units
(`_seconds`) in the name, histograms rather than precomputed percentiles."""

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily

from coedit_operator import consts

PHASES = (consts.PENDING, consts.PROVISIONING, consts.RUNNING, consts.DEGRADED, consts.COMPLETED, consts.FAILED)
# Reconciliations run from tens of milliseconds (nothing to do) to seconds (a new session).
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


class OperatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reconciliations = Counter(
            "coedit_operator_reconciliations", "Reconciliations of a session, by what started them and how they ended",
            ["trigger", "result"], registry=self.registry)
        self.reconcile_duration = Histogram(
            "coedit_operator_reconcile_duration_seconds", "Time a reconciliation of one session took",
            ["trigger"], buckets=DURATION_BUCKETS, registry=self.registry)
        self.reconcile_errors = Counter(
            "coedit_operator_reconcile_errors", "Reconciliations that failed, by the step that failed",
            ["step"], registry=self.registry)
        self.children_applied = Counter(
            "coedit_operator_children_applied", "Children created or restored (missing, drifted or changed spec)",
            ["kind"], registry=self.registry)
        self.api_requests = Counter(
            "coedit_operator_kubernetes_requests", "The operator's own Kubernetes API requests (kopf's watches aside)",
            ["verb", "code"], registry=self.registry)
        self.phases: dict[tuple[str, str], str] = {}  # (namespace, name) -> phase
        self.registry.register(_SessionsByPhase(self.phases))
        self._server = None

    def api_request(self, verb: str, status: int) -> None:
        self.api_requests.labels(verb, str(status)).inc()

    def serve(self, host: str, port: int) -> int:
        """Serve /metrics on a thread; returns the port (a free one when `port` is 0)."""
        self._server, _thread = start_http_server(port, host, registry=self.registry)
        return self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class _SessionsByPhase:
    """`coedit_operator_sessions{phase}`: the sessions this operator serves, as last reconciled."""

    def __init__(self, phases: dict[tuple[str, str], str]):
        self.phases = phases

    def collect(self):
        family = GaugeMetricFamily("coedit_operator_sessions", "Sessions by phase, as last reconciled",
                                   labels=["phase"])
        counts = dict.fromkeys(PHASES, 0)
        for phase in list(self.phases.values()):
            counts[phase] = counts.get(phase, 0) + 1
        for phase, count in counts.items():
            family.add_metric([phase], count)
        yield family

    def describe(self):
        return []
