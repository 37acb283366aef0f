"""The session's token budget as an escrow (a bounded counter, Balegas et al.
2015): every node holds a share of the allowance and spends or reserves only from
its own share, so `spent + reserved <= limit` holds with no coordinator, on every
node, whatever the order in which the nodes' changes reach each other.

The ledger is a map in the session's CRDT document. Each *writer* (a node on one
database) adds entries `writer#seq`, seq 1, 2, 3..., and never changes one; an
entry holds the writer's whole state after that change, as cumulative numbers:
its share, what it spent, what it holds reserved, what it gave each other writer
(`sent`) and what it took from each (`accepted`), plus the operations it applied
(reservations, settles, expiries, spends, settle requests). Rights move by
transfer: the giver raises `sent[to]` (from its free rights); the receiver may use
them once it has seen that entry, and raises `accepted[from]` in its next entry.

Yrs integrates independent map keys in whatever order they arrive, so a replica
may hold a writer's entry 7 and not yet its entry 5, or a writer's use of rights
it was given and not yet the giver's entry giving them. Since every entry is a
whole state, a replica counts one entry per writer: the greatest *consistent cut*
of what it holds, where no writer has accepted more from another than that
other's entry in the cut has sent (it starts from each writer's latest entry and
steps back a writer that accepted what the cut does not show as sent). At such a
cut every accepted transfer is also counted as sent, and each entry spends and
reserves at most what its writer held, so the sum over writers of spent + reserved
is at most the sum of the shares, which is at most the limit.

Everything here is pure (no I/O): the node calls these functions in its writer
task and writes the entries they return; tests/text_node/test_budget.py drives
them on three in-process replicas."""

import bisect
import json
from dataclasses import dataclass, field, replace
from types import MappingProxyType

# Closed operations (settled or expired reservations, spends) a compacted ledger still
# remembers per writer, so that a retry arriving just after a document generation
# switch (generations.py) is answered as the first time. An agent retries within
# seconds; at its pace a writer closes a few operations a second.
REMEMBERED_CLOSED = 256
EDIT_SPEND_PREFIX = "edit:"  # an edit's own tokens: the edit's idempotency covers a retry


@dataclass(frozen=True)
class Writer:
    """Who writes: a node on one database (`id` = node id ~ database epoch), its
    configured limit and the share of it this writer claims on its first entry."""

    id: str
    node: str
    limit: int
    share: int
    usable: int = 0  # the shares of all nodes together: the limit less what no share holds


def writer_for(node_id: str, epoch: str, limit: int, nodes: int) -> Writer:
    share = limit // max(nodes, 1)
    return Writer(id=f"{node_id}~{epoch[:12]}", node=node_id, limit=limit, share=share, usable=share * max(nodes, 1))


@dataclass(frozen=True)
class Entry:
    """One writer's state after one of its changes (cumulative), and the change."""

    writer: str
    node: str
    seq: int
    share: int = 0
    spent: int = 0
    reserved: int = 0
    sent: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    accepted: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    ops: tuple = ()

    @property
    def key(self) -> str:
        return f"{self.writer}#{self.seq}"

    @property
    def free(self) -> int:
        """Rights this writer may still reserve or spend."""
        return self.share + sum(self.accepted.values()) - sum(self.sent.values()) - self.spent - self.reserved

    def to_json(self) -> str:
        return json.dumps({
            "writer": self.writer, "node": self.node, "seq": self.seq, "share": self.share,
            "spent": self.spent, "reserved": self.reserved, "sent": dict(self.sent),
            "accepted": dict(self.accepted), "ops": list(self.ops),
        }, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str) -> "Entry":
        data = json.loads(raw)
        return cls(
            writer=data["writer"], node=data["node"], seq=data["seq"], share=data["share"],
            spent=data["spent"], reserved=data["reserved"], sent=MappingProxyType(data["sent"]),
            accepted=MappingProxyType(data["accepted"]), ops=tuple(data["ops"]),
        )


@dataclass
class Reservation:
    reservation_id: str
    writer: str
    node: str
    agent_id: str
    tokens: int
    expires_at: float  # Unix time, by the owner's clock (only the owner expires it)
    state: str = "open"  # open | settled | expired
    used: int = 0  # tokens recorded when settled


@dataclass(frozen=True)
class View:
    """The budget as one replica sees it (at its consistent cut)."""

    limit: int
    spent: int
    reserved: int
    free: dict[str, int]  # node -> rights it holds, unreserved (its share left, and transfers to it)
    exhausted: bool

    @property
    def remaining(self) -> int:
        return max(self.limit - self.spent - self.reserved, 0)


class Ledger:
    """Every writer's entries as this replica holds them (fed by the document's
    observer, in whatever order Yrs integrates them)."""

    def __init__(self):
        self._entries: dict[str, dict[int, Entry]] = {}
        self._seqs: dict[str, list[int]] = {}  # writer -> the seqs held, ascending
        self._cut: dict[str, int] | None = None
        self.reservations: dict[str, dict[str, Reservation]] = {}  # id -> writer -> reservation
        self.open: dict[str, set[str]] = {}  # writer -> ids of its open reservations
        self.spends: dict[str, tuple[str, int]] = {}  # spend id -> (writer, tokens)
        self.settle_requests: dict[str, int] = {}  # reservation id -> tokens a non-owner was told
        self.refused_at: set[int] = set()  # limits at which a writer refused for lack of budget
        self.malformed = 0

    # -- feeding --
    def integrate(self, raw: str) -> None:
        try:
            entry = Entry.from_json(raw)
        except (ValueError, KeyError, TypeError):  # not an entry a node wrote: it counts for nothing
            self.malformed += 1
            return
        entries = self._entries.setdefault(entry.writer, {})
        if entry.seq in entries:
            return
        entries[entry.seq] = entry
        bisect.insort(self._seqs.setdefault(entry.writer, []), entry.seq)
        self._apply_ops(entry)
        self._cut = None

    def has(self, key: str) -> bool:
        writer, _, seq = key.rpartition("#")
        return seq.isdigit() and int(seq) in self._entries.get(writer, {})

    def _apply_ops(self, entry: Entry) -> None:
        """Operations in any order: a settle or expiry may arrive before its reservation."""
        for op in entry.ops:
            match op["op"]:
                case "reserve":
                    reservation = self._reservation(op["id"], entry)
                    reservation.agent_id, reservation.tokens, reservation.expires_at = (
                        op["agent"], op["tokens"], op["expires"]
                    )
                    if reservation.state == "open":
                        self.open.setdefault(entry.writer, set()).add(op["id"])
                case "settle":
                    reservation = self._reservation(op["id"], entry)
                    reservation.state, reservation.used = "settled", op["tokens"]
                    self.open.get(entry.writer, set()).discard(op["id"])
                case "expire":
                    reservation = self._reservation(op["id"], entry)
                    reservation.state = "expired"
                    self.open.get(entry.writer, set()).discard(op["id"])
                case "spend":
                    self.spends.setdefault(op["id"], (entry.writer, op["tokens"]))
                case "settle_request":
                    self.settle_requests.setdefault(op["id"], op["tokens"])
                case "refused":
                    self.refused_at.add(op["limit"])

    def _reservation(self, reservation_id: str, entry: Entry) -> Reservation:
        by_writer = self.reservations.setdefault(reservation_id, {})
        if entry.writer not in by_writer:
            by_writer[entry.writer] = Reservation(reservation_id, entry.writer, entry.node, "", 0, 0.0)
        return by_writer[entry.writer]

    # -- reading --
    def cut(self) -> dict[str, int]:
        """The greatest consistent cut: each writer's latest entry whose accepted
        transfers are all within the senders' entries in the cut."""
        if self._cut is None:
            cut = {writer: seqs[-1] for writer, seqs in self._seqs.items()}
            changed = True
            while changed:
                changed = False
                for writer, seq in cut.items():
                    seqs = self._seqs[writer]
                    while seq and not self._consistent(self._entries[writer][seq], cut):
                        index = bisect.bisect_left(seqs, seq)
                        seq, changed = (seqs[index - 1] if index else 0), True
                    cut[writer] = seq
            self._cut = cut
        return self._cut

    def _consistent(self, entry: Entry, cut: dict[str, int]) -> bool:
        return all(tokens <= self._sent(sender, entry.writer, cut) for sender, tokens in entry.accepted.items())

    def _sent(self, sender: str, to: str, cut: dict[str, int]) -> int:
        seq = cut.get(sender, 0)
        return self._entries[sender][seq].sent.get(to, 0) if seq else 0

    def at_cut(self) -> list[Entry]:
        return [self._entries[w][seq] for w, seq in self.cut().items() if seq]

    def own(self, writer: str) -> Entry | None:
        """A writer's own latest entry (a writer holds all of its own entries)."""
        seqs = self._seqs.get(writer)
        return self._entries[writer][seqs[-1]] if seqs else None

    def transfers_to(self, writer: str) -> dict[str, int]:
        """sender -> tokens sent to `writer`, as far as the cut shows."""
        cut = self.cut()
        return {s: sent for s in cut if s != writer and (sent := self._sent(s, writer, cut))}

    def view(self, limit: int) -> View:
        entries = self.at_cut()
        free: dict[str, int] = {}
        for entry in entries:
            waiting = self._sent_to_unaccepted(entry)
            free[entry.node] = free.get(entry.node, 0) + entry.free + waiting
        spent = sum(e.spent for e in entries)
        return View(limit=limit, spent=spent, reserved=sum(e.reserved for e in entries), free=free,
                    exhausted=spent >= limit or limit in self.refused_at)

    def _sent_to_unaccepted(self, entry: Entry) -> int:
        return sum(max(sent - entry.accepted.get(s, 0), 0) for s, sent in self.transfers_to(entry.writer).items())

    def writers_of(self, node: str) -> list[str]:
        return [w for w, entries in self._entries.items() if entries and next(iter(entries.values())).node == node]

    def owned(self, reservation_id: str) -> list[Reservation]:
        return list(self.reservations.get(reservation_id, {}).values())

    def compacted(self) -> list[Entry]:
        """The ledger for a new document generation, taken at a state every replica
        holds alike (all writers quiet): each writer's entry at the cut, numbers
        unchanged (its next entry follows on), its operations reduced to what must
        outlive the switch: its open reservations, settle requests for them, refusals
        and its last REMEMBERED_CLOSED closed operations; earlier ones are forgotten
        (a retry of one of them is taken as new). A writer with no entry at the cut
        (none at a quiet state) is left out. Sorted by key: the same on every replica."""
        cut = self.cut()
        refusals = [{"op": "refused", "limit": limit} for limit in sorted(self.refused_at)]
        compacted = []
        for writer in sorted(w for w, seq in cut.items() if seq):
            ops = [*self._closed_ops(writer), *self._open_ops(writer)]
            if not compacted:
                ops += refusals
            compacted.append(replace(self._entries[writer][cut[writer]], ops=tuple(ops)))
        return compacted

    def _closed_ops(self, writer: str) -> list[dict]:
        """The writer's last closed operations, oldest first, each as the ops that
        recreate it (a reservation's reserve, then its settle or expiry)."""
        closed: dict[str, dict] = {}  # id -> the op that closed it, in the order they closed
        for seq in self._seqs[writer]:
            for op in self._entries[writer][seq].ops:
                if op["op"] in ("settle", "expire") or (
                        op["op"] == "spend" and not op["id"].startswith(EDIT_SPEND_PREFIX)):
                    closed.pop(op["id"], None)
                    closed[op["id"]] = op
        ops = []
        for op_id, op in list(closed.items())[-REMEMBERED_CLOSED:]:
            if op["op"] != "spend":
                reservation = self.reservations[op_id][writer]
                ops.append(_reserve_op(reservation))
            ops.append(op)
        return ops

    def _open_ops(self, writer: str) -> list[dict]:
        ops = []
        for reservation_id in sorted(self.open.get(writer, ())):
            ops.append(_reserve_op(self.reservations[reservation_id][writer]))
            if (tokens := self.settle_requests.get(reservation_id)) is not None:
                ops.append({"op": "settle_request", "id": reservation_id, "tokens": tokens})
        return ops


def _reserve_op(reservation: Reservation) -> dict:
    return {"op": "reserve", "id": reservation.reservation_id, "agent": reservation.agent_id,
            "tokens": reservation.tokens, "expires": reservation.expires_at}


# -- deciding a change (the node's writer task; nothing is written here) --


@dataclass(frozen=True)
class Short:
    """The writer's free rights do not cover the change: `missing` more are needed."""

    missing: int


@dataclass(frozen=True)
class Settled:
    reservation: Reservation
    released: int  # reserved tokens given back to the writer's free rights
    unrecorded: int = 0  # tokens beyond the reservation that no free rights covered


def next_entry(ledger: Ledger, me: Writer, *, spent: int = 0, reserved: int = 0,
               give: tuple[str, int] | None = None, ops: tuple = ()) -> Entry:
    """The writer's next entry: its last state changed by the given amounts, with
    every transfer to it that the cut shows accepted."""
    last = ledger.own(me.id)
    if last is None:
        # a later database of the same node (its earlier one lost) claims no share:
        # the earlier one may have used it, and its entries may still be on the way
        share = me.share if not [w for w in ledger.writers_of(me.node) if w != me.id] else 0
        last = Entry(writer=me.id, node=me.node, seq=0, share=share)
    accepted = dict(last.accepted)
    for sender, tokens in ledger.transfers_to(me.id).items():
        accepted[sender] = max(accepted.get(sender, 0), tokens)
    sent = dict(last.sent)
    if give:
        sent[give[0]] = sent.get(give[0], 0) + give[1]
    return Entry(
        writer=me.id, node=me.node, seq=last.seq + 1,
        share=max(last.share, me.share) if last.share else last.share,
        spent=last.spent + spent, reserved=last.reserved + reserved,
        sent=MappingProxyType(sent), accepted=MappingProxyType(accepted), ops=ops,
    )


def free_rights(ledger: Ledger, me: Writer) -> int:
    """What this writer could reserve now (its free rights and transfers it has not accepted yet)."""
    return next_entry(ledger, me).free


def reserve(ledger: Ledger, me: Writer, reservation_id: str, agent_id: str, tokens: int,
            expires_at: float) -> tuple[Entry | None, Reservation | Short]:
    """Hold `tokens` until settled or expired; a known id answers as the first time."""
    if known := ledger.owned(reservation_id):
        return None, known[0]
    op = {"op": "reserve", "id": reservation_id, "agent": agent_id, "tokens": tokens, "expires": expires_at}
    entry = next_entry(ledger, me, reserved=tokens, ops=(op,))
    if entry.free < 0:
        return None, Short(-entry.free)
    return entry, Reservation(reservation_id, me.id, me.node, agent_id, tokens, expires_at)


def settle(ledger: Ledger, me: Writer, reservation: Reservation, tokens: int) -> tuple[Entry | None, Settled]:
    """Record the tokens a reservation of this writer's really used; the rest goes
    back to its free rights. Tokens beyond the reservation are charged from the
    free rights as far as they go (the rest is answered as unrecorded: counting
    them would break the limit). A settled reservation answers as the first time;
    an expired one is charged like a spend."""
    assert reservation.writer == me.id
    if reservation.state == "settled":
        return None, Settled(reservation, max(reservation.tokens - reservation.used, 0))
    late_id = f"late:{reservation.reservation_id}"
    if (late := ledger.spends.get(late_id)) is not None:
        return None, Settled(replace(reservation, state="settled", used=late[1]), 0)
    held = reservation.tokens if reservation.state == "open" else 0
    base = next_entry(ledger, me)
    recorded = min(tokens, held + max(base.free, 0))
    if reservation.state == "open":
        op = {"op": "settle", "id": reservation.reservation_id, "tokens": recorded}
    else:
        op = {"op": "spend", "id": late_id, "agent": reservation.agent_id, "tokens": recorded}
    entry = next_entry(ledger, me, spent=recorded, reserved=-held, ops=(op,))
    return entry, Settled(replace(reservation, state="settled", used=recorded), max(held - recorded, 0),
                          tokens - recorded)


def spend(ledger: Ledger, me: Writer, spend_id: str, agent_id: str, tokens: int) -> tuple[Entry | None, int | Short]:
    """Charge tokens used without a reservation (the old spend route, an edit's
    own tokens), only from free rights. Answers the tokens charged (a known id:
    what was charged the first time)."""
    if (known := ledger.spends.get(spend_id)) is not None:
        return None, known[1]
    entry = next_entry(ledger, me, spent=tokens, ops=({"op": "spend", "id": spend_id, "agent": agent_id,
                                                       "tokens": tokens},))
    if entry.free < 0:
        return None, Short(-entry.free)
    return entry, tokens


def give(ledger: Ledger, me: Writer, to: str, asked: int) -> tuple[Entry | None, int]:
    """A peer that ran short asks for rights: give what it asked, or half of ours
    if that is more (so it does not ask again at once), never more than we hold."""
    free = next_entry(ledger, me).free
    tokens = min(free, max(asked, free // 2))
    if tokens <= 0 or to == me.id:
        return None, 0
    return next_entry(ledger, me, give=(to, tokens)), tokens


def request_settle(ledger: Ledger, me: Writer, reservation_id: str, tokens: int) -> Entry | None:
    """A settle for another writer's reservation, recorded for the owner to apply
    (when it could not be forwarded). The reservation stays held until then."""
    if reservation_id in ledger.settle_requests:
        return None
    return next_entry(ledger, me, ops=({"op": "settle_request", "id": reservation_id, "tokens": tokens},))


def refuse(ledger: Ledger, me: Writer) -> Entry | None:
    """Record that this writer refused a request the whole budget could not cover:
    the session's budget is exhausted (at this limit), on every node."""
    if me.limit in ledger.refused_at:
        return None
    return next_entry(ledger, me, ops=({"op": "refused", "limit": me.limit},))


def due(ledger: Ledger, me: Writer, now: float) -> list[tuple[Reservation, int | None]]:
    """This writer's open reservations to close now: (reservation, tokens) for one
    a peer was asked to settle, (reservation, None) for one past its expiry."""
    closing = []
    for reservation_id in sorted(ledger.open.get(me.id, ())):
        reservation = ledger.reservations[reservation_id][me.id]
        if (tokens := ledger.settle_requests.get(reservation.reservation_id)) is not None:
            closing.append((reservation, tokens))
        elif reservation.expires_at <= now:
            closing.append((reservation, None))
    return closing


def close(ledger: Ledger, me: Writer, closing: list[tuple[Reservation, int | None]]) -> Entry | None:
    """One entry settling the requested reservations and expiring the rest."""
    if not closing:
        return None
    base = next_entry(ledger, me)
    free, spent, released, ops = max(base.free, 0), 0, 0, []
    for reservation, tokens in closing:
        released += reservation.tokens
        if tokens is None:
            ops.append({"op": "expire", "id": reservation.reservation_id})
            free += reservation.tokens
            continue
        recorded = min(tokens, reservation.tokens + free)
        free += reservation.tokens - recorded
        spent += recorded
        ops.append({"op": "settle", "id": reservation.reservation_id, "tokens": recorded})
    return next_entry(ledger, me, spent=spent, reserved=-released, ops=tuple(ops))
