"""What the operator knows of live objects without asking the API server.

kopf's watches feed two indexes (see handlers.py): every child the operator manages,
by session, and every session. A reconciliation reads the children from there instead
of LISTing them. The operator's own writes come back through the watch a moment later;
until they do, `Writes` holds what the API answered, so a reconciliation that starts in
between does not see a stale object and apply it again.

An index holds each object as compact JSON (without `managedFields`, and a Secret without
its data): about a kilobyte a child instead of the ten a parsed body takes, so a thousand
sessions fit in tens of MiB."""

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from coedit_operator import consts

SessionKey = tuple[str, str]  # (namespace, session name)
ChildKey = tuple[str, str]  # (kind, name)


@dataclass(frozen=True, slots=True)
class Seen:
    """One live object as last observed."""

    kind: str
    name: str
    resource_version: str
    data: bytes

    def object(self) -> dict:
        return json.loads(self.data)


def session_of(body: Mapping) -> SessionKey | None:
    """The session a child belongs to, by its instance label."""
    meta = body.get("metadata") or {}
    instance = (meta.get("labels") or {}).get(consts.LABEL_INSTANCE)
    return (meta.get("namespace") or "", instance) if instance else None


def seen(body: Mapping, kind: str) -> Seen:
    meta = dict(body.get("metadata") or {})
    meta.pop("managedFields", None)
    obj = {**body, "apiVersion": body.get("apiVersion"), "kind": kind, "metadata": meta}
    if kind == "Secret":  # only its existence matters; keep no credentials in memory
        obj = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    return Seen(kind, meta.get("name") or "", str(meta.get("resourceVersion") or ""),
                json.dumps(obj, separators=(",", ":")).encode())


class Writes:
    """Objects the operator wrote whose watch event has not arrived yet, by session.

    An answer is kept only if no event for that object came while the request was in
    flight: such an event is either the write itself (the index is as fresh) or a later
    change (a deletion, say), which the answer must not hide."""

    def __init__(self) -> None:
        self._by_session: dict[SessionKey, dict[ChildKey, Seen]] = {}
        self._in_flight: dict[tuple[SessionKey, str, str], bool] = {}  # -> an event came meanwhile

    @staticmethod
    def _key(obj: dict) -> tuple[SessionKey | None, str, str]:
        meta = obj["metadata"]
        session = (meta["namespace"], meta["name"]) if obj["kind"] == consts.KIND else session_of(obj)
        return session, obj["kind"], meta["name"]

    def begin(self, obj: dict) -> None:
        """A write of `obj` is about to be sent."""
        key = self._key(obj)
        if key[0] is not None:
            self._in_flight[key] = False

    def end(self, obj: dict, answer: dict | None) -> None:
        """The write of `obj` is done: `answer` is the object the API returned (None: deleted or failed)."""
        session, kind, name = key = self._key(obj)
        if session is None:
            return
        overtaken = self._in_flight.pop(key, True)
        written = self._by_session.setdefault(session, {})
        if answer is None or overtaken:
            written.pop((kind, name), None)
        else:
            written[(kind, name)] = seen(answer, kind)
        if not written:
            del self._by_session[session]

    def arrived(self, session: SessionKey | None, kind: str, name: str) -> None:
        """A watch event for the object: from now on the index is at least as fresh."""
        if session is None:
            return
        if (session, kind, name) in self._in_flight:
            self._in_flight[(session, kind, name)] = True
        written = self._by_session.get(session)
        if written is not None:
            written.pop((kind, name), None)
            if not written:
                del self._by_session[session]

    def forget(self, session: SessionKey) -> None:
        self._by_session.pop(session, None)

    def overlay(self, session: SessionKey, indexed: Iterable[Seen]) -> dict[ChildKey, Seen]:
        """The indexed objects of a session, with the operator's newer writes over them."""
        found = {(item.kind, item.name): item for item in indexed}
        found.update((key, item) for key, item in (self._by_session.get(session) or {}).items()
                     if item.kind != consts.KIND)
        return found

    def session(self, session: SessionKey) -> Seen | None:
        """The session object as the operator's last status write returned it, if newer than the index."""
        return (self._by_session.get(session) or {}).get((consts.KIND, session[1]))

    def __len__(self) -> int:
        return sum(map(len, self._by_session.values()))
