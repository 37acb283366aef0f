"""Fan-out of live events to the browsers connected to `GET /events`."""

import asyncio
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Event:
    topic: str  # status | document | chat | analytics
    name: str  # the SSE event name
    data: str  # JSON
    id: str | None = None


class Subscriber:
    def __init__(self, topics: set[str], size: int):
        self.topics = topics
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(size)


class Hub:
    """Each browser gets a bounded queue; one that falls behind is dropped (its
    EventSource reconnects and is sent a fresh snapshot)."""

    def __init__(self, queue_size: int = 256):
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()

    def subscribe(self, topics: set[str]) -> Subscriber:
        subscriber = Subscriber(topics, self.queue_size)
        self.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def publish(self, event: Event) -> None:
        for subscriber in list(self.subscribers):
            if event.topic not in subscriber.topics:
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("slow browser dropped", topics=sorted(subscriber.topics))
                self.unsubscribe(subscriber)
                subscriber.queue.get_nowait()
                subscriber.queue.put_nowait(None)  # tells its stream to end
