"""The session's chat in Redis.

Keys (one hash tag per session, so a Redis Cluster keeps them on one shard):
- `coedit:chat:{S}:messages`: the stream; each entry has one field, `data`, the
  message JSON without `id` and `ts` (both come from the entry id, Redis's clock).
- `coedit:chat:{S}:intents`: hash intent_id -> the EditIntent as stored.
- `coedit:chat:{S}:leases`: sorted set intent_id -> lease expiry (ms, Redis time).
- `coedit:chat:{S}:message-id:<message_id>`: the first answer to an idempotent post.
- `coedit:chat:{S}:people`: list of the newest people's messages (newest first), kept
  apart so that agents find them however busy the stream is.
- `coedit:chat:{S}:session`: hash `paused` ("1"/"0"), `changed_at` (ms), `changed_by`,
  and `completion` (the SessionCompletion JSON; set once, the first reason stays).

Every post runs as one Lua script, so the stream, the leases and the idempotency
key change together and every chat replica sees the same state."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from coedit.chat.models import (
    EditComment,
    EditIntent,
    EditOperation,
    IntentStatus,
    Message,
    PersonMessage,
    SessionCompletion,
    SessionState,
)

STREAM_ID = re.compile(r"^\d{1,20}(-\d{1,20})?$")
MAX_ID_PART = 2**64 - 1  # a Redis stream id is two unsigned 64-bit numbers


def in_range(stream_id: str | None) -> str | None:
    """A stream id Redis can take (the pattern allows 20 digits, up to 10^20 - 1)."""
    if stream_id and any(int(part) > MAX_ID_PART for part in stream_id.split("-")):
        raise ValueError(f"stream id parts go up to {MAX_ID_PART}")
    return stream_id


PEOPLE_KEPT = 50  # people's messages kept apart for the agents' prompts

_SET_PAUSED = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('HSET', KEYS[1], 'paused', ARGV[1], 'changed_at', now, 'changed_by', ARGV[2])
return now
"""

_POST = """
local stream, intents, leases, idem, people = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local max_len, data, action, intent_id, agent_id = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local ttl_ms, idem_ttl = tonumber(ARGV[6]), tonumber(ARGV[7])
if idem_ttl > 0 then
  local first = redis.call('GET', idem)
  if first then
    return {0, first}
  end
end
local id = redis.call('XADD', stream, 'MAXLEN', max_len, '*', 'data', data)
local now = tonumber(string.match(id, '^(%d+)'))
local function live_owner()
  local expiry = redis.call('ZSCORE', leases, intent_id)
  if expiry and tonumber(expiry) > now then
    return cjson.decode(redis.call('HGET', intents, intent_id)).agent_id
  end
  return nil
end
if action == 'open' then
  local owner = live_owner()
  if owner == nil or owner == agent_id then
    redis.call('HSET', intents, intent_id, '{"id":"' .. id .. '",' .. string.sub(data, 2))
    redis.call('ZADD', leases, now + ttl_ms, intent_id)
  end
elseif action == 'close' then
  redis.call('HDEL', intents, intent_id)
  redis.call('ZREM', leases, intent_id)
elseif action == 'renew' and live_owner() == agent_id then
  redis.call('ZADD', leases, now + ttl_ms, intent_id)
elseif action == 'person' then
  redis.call('LPUSH', people, id .. ' ' .. data)
  redis.call('LTRIM', people, 0, tonumber(ARGV[8]) - 1)
end
for _, expired in ipairs(redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, 16)) do
  redis.call('HDEL', intents, expired)
  redis.call('ZREM', leases, expired)
end
local answer = id .. ' ' .. data
if idem_ttl > 0 then
  redis.call('SET', idem, answer, 'EX', idem_ttl)
end
return {1, answer}
"""

_OPEN_INTENTS = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local live = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. now, '+inf', 'WITHSCORES')
local result = {}
for i = 1, #live, 2 do
  local intent = redis.call('HGET', KEYS[1], live[i])
  if intent then
    table.insert(result, intent)
    table.insert(result, live[i + 1])
  end
end
return result
"""


def id_time(stream_id: str) -> datetime:
    """The time Redis gave a stream entry (its id's milliseconds), UTC."""
    return datetime.fromtimestamp(int(stream_id.split("-", 1)[0]) / 1000, UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def stored(stream_id: str, data: str | bytes | dict) -> dict:
    """A message as clients see it: the posted fields plus `id` and `ts`."""
    fields = data if isinstance(data, dict) else json.loads(data)
    return {"id": stream_id, "ts": iso(id_time(stream_id)), **fields}


def lease_action(message: Message) -> tuple[str, str]:
    """What a message does to the intent it is about: (action, intent_id)."""
    match message:
        case EditIntent():
            return "open", message.intent_id
        case IntentStatus(status="applied" | "cancelled"):
            return "close", message.intent_id
        case IntentStatus() | EditOperation():
            return "renew", message.intent_id
        case EditComment(ref=str(ref)):
            return "renew", ref
        case PersonMessage():
            return "person", ""
    return "", ""


@dataclass
class Posted:
    message: dict
    created: bool  # False: an earlier post with the same message_id answered


class ChatStore:
    def __init__(self, redis: Redis, session: str, *, max_len: int, intent_ttl: float,
                 idempotency_ttl: int):
        prefix = f"coedit:chat:{{{session}}}"
        self.redis, self.prefix = redis, prefix
        self.stream, self.intents, self.leases = (
            f"{prefix}:messages", f"{prefix}:intents", f"{prefix}:leases"
        )
        self.people, self.session = f"{prefix}:people", f"{prefix}:session"
        self.max_len, self.intent_ttl_ms = max_len, round(intent_ttl * 1000)
        self.idempotency_ttl = idempotency_ttl
        self._post = redis.register_script(_POST)
        self._open_intents = redis.register_script(_OPEN_INTENTS)
        self._set_paused = redis.register_script(_SET_PAUSED)

    async def post(self, message: Message) -> Posted:
        data = message.model_dump_json(exclude={"id", "ts"}, exclude_none=True)
        action, intent_id = lease_action(message)
        idem_key = f"{self.prefix}:message-id:{message.message_id or ''}"
        created, answer = await self._post(
            keys=[self.stream, self.intents, self.leases, idem_key, self.people],
            args=[self.max_len, data, action, intent_id, message.agent_id, self.intent_ttl_ms,
                  self.idempotency_ttl if message.message_id else 0, PEOPLE_KEPT],
        )
        stream_id, data = answer.decode().split(" ", 1)
        return Posted(stored(stream_id, data), bool(created))

    async def page(self, *, after: str | None, before: str | None, limit: int) -> list[dict]:
        """Up to `limit` messages strictly between the cursors, oldest first. With no
        `after`, the newest ones before `before` (or the newest of all)."""
        upper = f"({before}" if before else "+"
        try:
            if after is not None:
                entries = await self.redis.xrange(self.stream, f"({after}", upper, count=limit)
            else:
                entries = (await self.redis.xrevrange(self.stream, upper, "-", count=limit))[::-1]
        except ResponseError:  # an exclusive bound past the ends (before 0-0, after the largest id):
            return []  # no message lies there
        return [stored(entry_id.decode(), fields[b"data"]) for entry_id, fields in entries]

    async def last_id(self) -> str:
        """The newest entry's id ("0-0" for an empty stream): where live reading starts."""
        newest = await self.redis.xrevrange(self.stream, "+", "-", count=1)
        return newest[0][0].decode() if newest else "0-0"

    async def read(self, after: str, *, block_ms: int | None, count: int) -> list[tuple[str, bytes]]:
        """Entries after `after`, waiting up to `block_ms` for the first one."""
        answer = await self.redis.xread({self.stream: after}, count=count, block=block_ms)
        if not answer:
            return []
        return [(entry_id.decode(), fields[b"data"]) for entry_id, fields in answer[0][1]]

    async def people_messages(self, limit: int) -> list[dict]:
        """The newest `limit` people's messages, oldest first."""
        entries = await self.redis.lrange(self.people, 0, limit - 1)
        return [stored(*entry.decode().split(" ", 1)) for entry in reversed(entries)]

    async def session_state(self) -> SessionState:
        fields = {k.decode(): v.decode() for k, v in (await self.redis.hgetall(self.session)).items()}
        changed_at = fields.get("changed_at")
        completion = fields.get("completion")
        return SessionState(
            paused=fields.get("paused") == "1", changed_by=fields.get("changed_by") or None,
            changed_at=datetime.fromtimestamp(int(changed_at) / 1000, UTC) if changed_at else None,
            completion=SessionCompletion.model_validate_json(completion) if completion else None,
        )

    async def set_paused(self, paused: bool, by: str | None) -> SessionState:
        await self._set_paused(keys=[self.session], args=["1" if paused else "0", by or ""])
        return await self.session_state()

    async def complete(self, completion: SessionCompletion) -> SessionState:
        """The session is over; a completion told before stays (the first reason wins)."""
        await self.redis.hsetnx(self.session, "completion", completion.model_dump_json())
        return await self.session_state()

    async def open_intents(self) -> list[dict]:
        """Intents neither applied nor cancelled whose lease runs, oldest first."""
        flat = await self._open_intents(keys=[self.intents, self.leases])
        intents = [
            {**stored_intent(intent), "expires_at": iso(datetime.fromtimestamp(int(expiry) / 1000, UTC))}
            for intent, expiry in zip(flat[::2], flat[1::2])
        ]
        return sorted(intents, key=lambda intent: stream_key(intent["id"]))


def stored_intent(raw: bytes) -> dict:
    intent = json.loads(raw)
    return stored(intent.pop("id"), intent)


def stream_key(stream_id: str) -> tuple[int, int]:
    """Stream ids in their order ("5-1" < "10-0")."""
    ms, _, seq = stream_id.partition("-")
    return int(ms), int(seq or 0)

