"""Chat benchmark: `python -m bench.chat [--messages N] [--concurrency C] [--readers R]`.

Starts a Redis and a chat process, then prints JSON with each figure beside its
reference measured in the same run:
- messages/s posted through the HTTP API by a concurrent client, against Redis's
  own XADD rate (same payload, MAXLEN and concurrency; redis-py, and the C
  `redis-benchmark` when installed) and against `GET /healthz` on the same
  process (the HTTP stack alone);
- SSE fan-out: delivery latency (POST sent -> event read) to R readers, against
  one raw `XREAD BLOCK` reader on Redis (XADD sent -> entry read).
The clients run in this process, on the same cores as the servers."""

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from redis.asyncio import Redis

from coedit.chat.client import MESSAGES_PATH, ChatClient
from coedit.chat.models import EditComment
from coedit.local.servers import RedisServer
from coedit.local.processes import ServiceProcess

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOKEN_ENV = {"COEDIT_AUTH_TOKEN": TOKEN}  # a secret goes by environment, never as a flag (`ps` shows flags)
MAX_LEN = 1000
STREAM = "coedit:chat:{default}:messages"


def comment(n: int) -> dict:
    return {"type": "edit_comment", "agent_id": f"agent-{n % 10}", "text": f"message {n} " + "x" * 80}


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1] if len(samples) > 1 else samples[0]


def latency_ms(samples: list[float]) -> dict:
    ms = [s * 1000 for s in samples]
    return {"samples": len(ms), "p50_ms": round(percentile(ms, 50), 2), "p99_ms": round(percentile(ms, 99), 2)}


async def concurrently(count: int, concurrency: int, one) -> float:
    """Run `one(n)` for n < count with `concurrency` workers; the rate per second."""
    numbers = iter(range(count))

    async def worker():
        for n in numbers:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def http_rate(url: str, count: int, concurrency: int, *, post: bool = True) -> float:
    """Messages posted per second, or (`post=False`) `GET /healthz` per second: the
    same client and HTTP stack doing no chat work. Bare httpx, not the chat client:
    the client's parsing of each answer would count on the chat's side only."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=60) as client:

        async def one(n: int):
            request = client.post(MESSAGES_PATH, json=comment(n)) if post else client.get("/healthz")
            (await request).raise_for_status()

        await concurrently(concurrency, concurrency, one)  # warm the connections
        return await concurrently(count, concurrency, one)


async def redis_py_rate(redis: Redis, count: int, concurrency: int) -> float:
    async def one(n: int):
        await redis.xadd("bench:redis-py", {"data": json.dumps(comment(n))}, maxlen=MAX_LEN,
                         approximate=False)

    return await concurrently(count, concurrency, one)


def redis_benchmark_rate(port: int, count: int, concurrency: int) -> float | None:
    """Redis's rate measured by its own C client, when `redis-benchmark` is installed."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        return None
    out = subprocess.run(
        [binary, "-p", str(port), "-c", str(concurrency), "-n", str(count), "--csv",
         "XADD", "bench:c", "MAXLEN", str(MAX_LEN), "*", "data", json.dumps(comment(0))],
        capture_output=True, text=True, check=True,
    ).stdout.strip().splitlines()
    return float(out[-1].rsplit(",", 7)[1].strip('"'))  # the name column holds unescaped quotes


async def sse_reader(chat: ChatClient, expected: int, ready: asyncio.Event,
                     sent: dict[str, float], samples: list[float]) -> None:
    async with chat.stream() as messages:
        ready.set()
        got = 0
        async for message in messages:
            samples.append(time.perf_counter() - sent[message.text])
            got += 1
            if got == expected:
                return


async def sse_fanout(url: str, readers: int, messages: int, interval: float) -> dict:
    sent: dict[str, float] = {}
    samples: list[float] = []
    limits = httpx.Limits(max_connections=readers + 4)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        chat = ChatClient(url, http=http, token=TOKEN)
        ready = [asyncio.Event() for _ in range(readers)]
        tasks = [asyncio.create_task(sse_reader(chat, messages, r, sent, samples)) for r in ready]
        await asyncio.gather(*(r.wait() for r in ready))
        for n in range(messages):
            message = EditComment.model_validate(comment(n))
            sent[message.text] = time.perf_counter()
            await chat.post(message)
            await asyncio.sleep(interval)
        await asyncio.wait_for(asyncio.gather(*tasks), 120)
    return latency_ms(samples)


async def raw_reader_latency(redis: Redis, messages: int, interval: float) -> dict:
    """One XREAD BLOCK reader straight on Redis, messages XADDed at the same pace."""
    key, sent, samples = "bench:raw", {}, []
    last = (await redis.xadd(key, {"data": "start"})).decode()

    async def read():
        nonlocal last
        while len(samples) < messages:
            for _, entries in await redis.xread({key: last}, block=1000) or []:
                for entry_id, fields in entries:
                    samples.append(time.perf_counter() - sent[fields[b"data"].decode()])
                    last = entry_id

    reader = asyncio.create_task(read())
    await asyncio.sleep(0.1)
    for n in range(messages):
        sent[str(n)] = time.perf_counter()
        await redis.xadd(key, {"data": str(n)}, maxlen=MAX_LEN, approximate=False)
        await asyncio.sleep(interval)
    await asyncio.wait_for(reader, 60)
    return latency_ms(samples)


async def main(args) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp:
        redis_server = RedisServer(Path(tmp) / "redis").start()
        chat = ServiceProcess(
            "chat", ["--redis-url", redis_server.url, "--log-level", "warning"], Path(tmp), env=TOKEN_ENV)
        redis = Redis.from_url(redis_server.url, max_connections=args.concurrency + 8)
        try:
            chat.start()
            http = await http_rate(chat.url, args.messages, args.concurrency)
            stored = await redis.xlen(STREAM)
            healthz = await http_rate(chat.url, args.messages, args.concurrency, post=False)
            redis_py = await redis_py_rate(redis, args.messages, args.concurrency)
            redis_c = redis_benchmark_rate(redis_server.port, args.messages * 4, args.concurrency)
            fanout = await sse_fanout(chat.url, args.readers, args.fanout_messages, args.interval)
            raw = await raw_reader_latency(redis, args.fanout_messages, args.interval)
        finally:
            await redis.aclose()
            chat.stop()
            redis_server.stop()
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "post": {
            "messages": args.messages,
            "concurrency": args.concurrency,
            "stream_length_after": stored,
            "http_api_per_s": round(http),
            "reference_redis_py_xadd_per_s": round(redis_py),
            "ratio_http_to_redis_py": round(http / redis_py, 3),
            "reference_http_healthz_per_s": round(healthz),
            "ratio_http_to_healthz": round(http / healthz, 3),
            "reference_redis_benchmark_xadd_per_s": redis_c and round(redis_c),
            "ratio_http_to_redis_benchmark": redis_c and round(http / redis_c, 3),
        },
        "sse_fanout": {
            "readers": args.readers,
            "messages": args.fanout_messages,
            "interval_ms": args.interval * 1000,
            "delivery": fanout,
            "reference_one_raw_xread_reader": raw,
        },
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.chat", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="messages posted for the rate")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--fanout-messages", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between fan-out posts")
    return parser.parse_args()


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(parse_args())), indent=2))
