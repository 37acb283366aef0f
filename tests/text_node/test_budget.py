"""The budget escrow on three in-process replicas: whatever the reservations,
settles, expiries, transfers, deliveries and partitions, no replica ever sees
spent + reserved over the limit, and once everything is delivered they agree and
every settled token is counted."""

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from coedit.text_node import budget
from coedit.text_node.document import ReplicatedDocument

LIMIT = 1000
NODES = "abc"


class Replica:
    def __init__(self, name: str, limit: int = LIMIT):
        self.name = name
        self.me = budget.writer_for(name, f"epoch-{name}", limit, len(NODES))
        self.doc = ReplicatedDocument("")
        self.received: list[bytes] = []  # every update it integrated, to rebuild it

    @property
    def ledger(self) -> budget.Ledger:
        return self.doc.ledger

    def write(self, entry: budget.Entry | None) -> bytes | None:
        if entry is None:
            return None
        update = self.doc.write_ledger(entry).update
        self.received.append(update)
        return update

    def apply(self, update: bytes) -> None:
        self.doc.apply_update(update)
        self.received.append(update)

    def rebuild(self, rng: random.Random) -> None:
        """A restart that integrates the same updates in another order."""
        updates = list(self.received)
        rng.shuffle(updates)
        self.doc = ReplicatedDocument("")
        for update in updates:
            self.doc.apply_update(update)


class Cluster:
    def __init__(self, rng: random.Random, limit: int = LIMIT):
        self.rng, self.limit, self.now = rng, limit, 1000.0
        self.replicas = {name: Replica(name, limit) for name in NODES}
        self.in_flight: list[tuple[str, bytes]] = []
        self.cut_off: set[str] = set()  # nodes partitioned from the others
        self.settled: dict[str, int] = {}  # reservation id -> tokens an answer said were recorded
        self.charged: dict[str, int] = {}  # spend id -> tokens
        self.sequence = 0

    def reachable(self, a: str, b: str) -> bool:
        return a == b or (a not in self.cut_off and b not in self.cut_off)

    def broadcast(self, origin: str, update: bytes | None) -> None:
        if update is not None:
            self.in_flight += [(name, update) for name in NODES if name != origin]

    def write(self, name: str, entry) -> None:
        self.broadcast(name, self.replicas[name].write(entry))

    # -- what a node's service does --
    def transfer(self, name: str, tokens: int) -> None:
        """Ask the reachable peers for rights (the internal route), apply each answer at once."""
        asking = self.replicas[name]
        for peer in NODES:
            if peer == name or not self.reachable(name, peer):
                continue
            need = tokens - budget.free_rights(asking.ledger, asking.me)
            if need <= 0:
                return
            giver = self.replicas[peer]
            entry, _ = budget.give(giver.ledger, giver.me, asking.me.id, need)
            update = giver.write(entry)
            self.broadcast(peer, update)
            if update is not None:
                asking.apply(update)

    def charge(self, name: str, decide, tokens: int):
        replica = self.replicas[name]
        for _ in range(2):
            entry, answer = decide(replica.ledger)
            if not isinstance(answer, budget.Short):
                self.write(name, entry)
                return answer
            self.transfer(name, tokens)
        return None

    def reserve(self, name: str, tokens: int) -> None:
        self.sequence += 1
        rid, me = f"r{self.sequence}", self.replicas[name].me
        ttl = self.rng.choice([5.0, 50.0, 500.0])
        self.charge(name, lambda ledger: budget.reserve(ledger, me, rid, "agent", tokens, self.now + ttl), tokens)

    def spend(self, name: str, tokens: int) -> None:
        self.sequence += 1
        spend_id, me = f"s{self.sequence}", self.replicas[name].me
        charged = self.charge(name, lambda ledger: budget.spend(ledger, me, spend_id, "agent", tokens), tokens)
        if charged is not None:
            self.charged[spend_id] = charged

    def settle(self, name: str) -> None:
        replica = self.replicas[name]
        known = sorted(rid for rid, by_writer in replica.ledger.reservations.items()
                       if any(r.state == "open" for r in by_writer.values()))
        if not known:
            return
        rid = self.rng.choice(known)
        (owner_writer, reservation), = replica.ledger.reservations[rid].items()
        tokens = self.rng.randint(0, reservation.tokens + 20)  # now and then beyond the reservation
        owner = self.replicas[reservation.node]
        if self.reachable(name, owner.name):  # settled by (or forwarded to) its node
            mine = owner.ledger.reservations.get(rid, {}).get(owner_writer)
            if mine is None:
                return
            entry, settled = budget.settle(owner.ledger, owner.me, mine, tokens)
            self.write(owner.name, entry)
            self.settled.setdefault(rid, settled.reservation.used)
        else:  # recorded for the owner to apply when it sees it
            self.write(name, budget.request_settle(replica.ledger, replica.me, rid, tokens))

    def sweep(self, name: str) -> None:
        replica = self.replicas[name]
        closing = budget.due(replica.ledger, replica.me, self.now)
        self.write(name, budget.close(replica.ledger, replica.me, closing))
        for reservation, tokens in closing:
            if tokens is not None:
                self.settled.setdefault(reservation.reservation_id,
                                        replica.ledger.reservations[reservation.reservation_id][replica.me.id].used)

    def deliver(self, share: float, duplicate: float) -> None:
        self.rng.shuffle(self.in_flight)
        keep = []
        for dest, update in self.in_flight:
            held = dest in self.cut_off or any(n in self.cut_off for n in NODES if n != dest) and self.rng.random() < 0.8
            if held or self.rng.random() > share:
                keep.append((dest, update))
                continue
            self.replicas[dest].apply(update)
            if self.rng.random() < duplicate:
                keep.append((dest, update))
        self.in_flight = keep

    # -- the invariant --
    def check(self) -> None:
        for replica in self.replicas.values():
            view = replica.ledger.view(self.limit)
            assert view.spent + view.reserved <= self.limit, (replica.name, view)
            assert all(free >= 0 for free in view.free.values()), view
        # what the nodes themselves hold, each its own latest state
        own = [r.ledger.own(r.me.id) for r in self.replicas.values()]
        assert sum(e.spent + e.reserved for e in own if e) <= self.limit
        assert all(e.free >= 0 for e in own if e)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32), steps=st.integers(5, 80), share=st.floats(0.1, 0.9),
       duplicate=st.floats(0, 0.3), partitions=st.booleans())
def test_no_replica_ever_sees_the_budget_exceeded(seed, steps, share, duplicate, partitions):
    rng = random.Random(seed)
    cluster = Cluster(rng)
    for _ in range(steps):
        name = rng.choice(NODES)
        action = rng.choices(["reserve", "settle", "spend", "expire", "deliver", "partition", "rebuild"],
                             weights=[6, 4, 1, 2, 4, 2 if partitions else 0, 1])[0]
        match action:
            case "reserve":
                cluster.reserve(name, rng.choice([1, 10, 50, 120, 300, 700]))
            case "settle":
                cluster.settle(name)
            case "spend":
                cluster.spend(name, rng.randint(1, 80))
            case "expire":
                cluster.now += rng.choice([1.0, 10.0, 100.0])
                cluster.sweep(name)
            case "deliver":
                cluster.deliver(share, duplicate)
            case "partition":
                cluster.cut_off = {name} if not cluster.cut_off else set()
            case "rebuild":
                cluster.replicas[name].rebuild(rng)
        cluster.check()
    # heal, deliver everything, let each node close what it was asked to; then once more
    cluster.cut_off = set()
    for _ in range(3):
        cluster.deliver(1.0, 0.0)
        for name in NODES:
            cluster.sweep(name)
        cluster.check()
    cluster.deliver(1.0, 0.0)
    views = {name: r.ledger.view(cluster.limit) for name, r in cluster.replicas.items()}
    assert len({(v.spent, v.reserved) for v in views.values()}) == 1, views
    view = views["a"]
    settled = sum(cluster.settled.values()) + sum(cluster.charged.values())
    # everything answered as recorded is counted (late settles of expired ones come on top)
    assert view.spent >= settled
    ledger = cluster.replicas["a"].ledger
    assert view.spent == sum(r.used for rs in ledger.reservations.values() for r in rs.values()
                             if r.state == "settled") + sum(tokens for _, tokens in ledger.spends.values())
    assert view.reserved == sum(r.tokens for rs in ledger.reservations.values() for r in rs.values()
                                if r.state == "open")


def test_a_short_node_borrows_from_its_peers_and_the_limit_holds_exactly():
    cluster = Cluster(random.Random(1), limit=999)
    a = cluster.replicas["a"]
    for step in range(20):  # node a alone takes the whole budget, 50 at a time, borrowing from b and c
        cluster.reserve("a", 50)
        cluster.check()
    view = a.ledger.view(999)
    assert view.reserved == 950 and view.free == {"a": 49, "b": 0, "c": 0}
    cluster.reserve("a", 50)  # 49 left anywhere: refused
    assert a.ledger.view(999).reserved == 950
    cluster.deliver(1.0, 0.0)
    assert all(r.ledger.view(999).reserved == 950 for r in cluster.replicas.values())


def test_a_settle_for_an_unreachable_owner_is_applied_when_it_sees_it():
    cluster = Cluster(random.Random(2))
    cluster.reserve("a", 100)
    cluster.deliver(1.0, 0.0)
    cluster.cut_off = {"a"}
    cluster.settle("b")  # a is cut off: b records the settle
    assert cluster.replicas["b"].ledger.settle_requests
    assert cluster.replicas["b"].ledger.view(LIMIT).reserved == 100  # still held until a applies it
    cluster.cut_off = set()
    cluster.deliver(1.0, 0.0)
    cluster.sweep("a")
    cluster.deliver(1.0, 0.0)
    (reservation,) = cluster.replicas["b"].ledger.reservations["r1"].values()
    assert reservation.state == "settled"
    views = {n: r.ledger.view(LIMIT) for n, r in cluster.replicas.items()}
    assert {(v.spent, v.reserved) for v in views.values()} == {(reservation.used, 0)}


def test_a_stale_view_never_counts_a_transfer_twice():
    """c sees b's use of rights a gave it before it sees a's entry giving them: its
    cut leaves b's later entries out until a's arrives."""
    cluster = Cluster(random.Random(3), limit=300)
    a, b, c = (cluster.replicas[n] for n in NODES)
    updates = []
    entry, _ = budget.reserve(a.ledger, a.me, "a1", "x", 100, 10**9)
    updates.append(a.write(entry))
    entry, _ = budget.settle(a.ledger, a.me, a.ledger.reservations["a1"][a.me.id], 0)
    updates.append(a.write(entry))
    entry, given = budget.give(a.ledger, a.me, b.me.id, 100)
    transfer = a.write(entry)
    b.apply(transfer)
    entry, reservation = budget.reserve(b.ledger, b.me, "b1", "x", 200, 10**9)
    assert not isinstance(reservation, budget.Short)
    late = b.write(entry)
    c.apply(updates[0])  # c has a's reservation, not yet its release nor the transfer
    c.apply(late)
    view = c.ledger.view(300)
    assert view.reserved == 100 and view.spent + view.reserved <= 300
    for update in updates[1:] + [transfer]:
        c.apply(update)
    assert c.ledger.view(300).reserved == 200


def test_entries_in_any_order_give_the_same_view():
    cluster = Cluster(random.Random(4))
    for step in range(30):
        cluster.reserve("abc"[step % 3], 40)
        if step % 4 == 0:
            cluster.settle("abc"[(step + 1) % 3])
    cluster.deliver(1.0, 0.0)
    a = cluster.replicas["a"]
    before = a.ledger.view(LIMIT)
    for seed in range(5):
        a.rebuild(random.Random(seed))
        assert a.ledger.view(LIMIT) == before


def quiet_cluster(seed: int, steps: int = 120) -> Cluster:
    """A workload of reserves, settles, spends and expiries, everything delivered."""
    rng = random.Random(seed)
    cluster = Cluster(rng)
    for _ in range(steps):
        name = rng.choice(NODES)
        action = rng.choices(["reserve", "settle", "spend", "expire"], weights=[6, 4, 2, 1])[0]
        match action:
            case "reserve":
                cluster.reserve(name, rng.choice([1, 10, 50, 120]))
            case "settle":
                cluster.settle(name)
            case "spend":
                cluster.spend(name, rng.randint(1, 30))
            case "expire":
                cluster.now += rng.choice([1.0, 10.0, 100.0])
                cluster.sweep(name)
        cluster.deliver(0.7, 0.0)
    cluster.deliver(1.0, 0.0)
    return cluster


def fed(entries: list[budget.Entry]) -> budget.Ledger:
    ledger = budget.Ledger()
    for entry in entries:
        ledger.integrate(entry.to_json())
    return ledger


def test_a_compacted_ledger_carries_the_budget_on_exactly():
    """What a new document generation starts from (generations.py): the same view,
    cut, writers' latest entries, open reservations and what is due, fewer ops."""
    for seed in range(5):
        cluster = quiet_cluster(seed)
        ledger = cluster.replicas["a"].ledger
        compacted = ledger.compacted()
        restarted = fed(compacted)
        assert restarted.view(LIMIT) == ledger.view(LIMIT)
        assert restarted.cut() == {w: s for w, s in ledger.cut().items() if s}
        for replica in cluster.replicas.values():
            assert restarted.own(replica.me.id) == replace(ledger.own(replica.me.id), ops=restarted.own(replica.me.id).ops)
            assert budget.due(restarted, replica.me, cluster.now) == budget.due(ledger, replica.me, cluster.now)
        assert {w: ids for w, ids in restarted.open.items() if ids} == {w: ids for w, ids in ledger.open.items() if ids}
        assert restarted.refused_at == ledger.refused_at
        # the same on every replica, whatever order they integrated in, and compacting again changes nothing
        assert all(r.ledger.compacted() == compacted for r in cluster.replicas.values())
        assert restarted.compacted() == compacted


def test_a_retry_just_after_compaction_is_answered_as_the_first_time():
    cluster = quiet_cluster(7)
    a = cluster.replicas["a"]
    restarted = fed(a.ledger.compacted())
    settled = [r for rs in a.ledger.reservations.values() for r in rs.values()
               if r.writer == a.me.id and r.state == "settled"]
    assert settled
    for reservation in settled[-3:]:
        again = restarted.reservations[reservation.reservation_id][a.me.id]
        entry, answer = budget.settle(restarted, a.me, again, reservation.used + 5)
        assert entry is None and answer.reservation.used == reservation.used
        entry, answer = budget.reserve(restarted, a.me, reservation.reservation_id, "agent", 10, 0)
        assert entry is None
    for spend_id, (writer, tokens) in a.ledger.spends.items():
        if writer == a.me.id:
            assert budget.spend(restarted, a.me, spend_id, "agent", tokens + 1) == (None, tokens)


def test_a_compacted_ledger_stays_bounded_and_the_limit_holds_after_it():
    cluster = Cluster(random.Random(8), limit=10**9)
    for _ in range(1500):  # many reservations, each settled
        cluster.reserve("a", 10)
        cluster.settle("a")
    cluster.deliver(1.0, 0.0)
    compacted = cluster.replicas["a"].ledger.compacted()
    assert sum(len(entry.ops) for entry in compacted) <= 2 * budget.REMEMBERED_CLOSED + 10
    # the three replicas carry on from it as from a new document
    for replica in cluster.replicas.values():
        replica.doc = ReplicatedDocument("")
        for entry in compacted:
            replica.doc.write_ledger(entry)
    before = cluster.replicas["a"].ledger.view(cluster.limit)
    for step in range(60):
        name = NODES[step % 3]
        cluster.reserve(name, 5_000_000)
        if step % 2:
            cluster.settle(name)
        cluster.deliver(0.5, 0.0)
        cluster.check()
    cluster.deliver(1.0, 0.0)
    after = cluster.replicas["a"].ledger.view(cluster.limit)
    assert after.spent >= before.spent and after.spent + after.reserved <= cluster.limit
