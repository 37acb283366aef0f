"""A loopback TCP proxy per direction between text nodes, which a test cuts and
heals: a network partition without root (no iptables), on real sockets.

A cut is a black hole, as a real partition is: connections open and bytes are
accepted, nothing gets through and nothing is refused, so the nodes see timeouts,
not quick errors. Healing closes the connections that lived through the cut (as
TCP would, once its retransmissions give up) and lets new ones through."""

import asyncio
import threading

from coedit.local.servers import free_port


class _Link:
    """127.0.0.1:`port` forwarding to 127.0.0.1:`target`."""

    def __init__(self, target: int):
        self.target, self.port = target, free_port()
        self.cut = False
        self.lose_replies_to: bytes | None = None  # a request starting so is forwarded, its reply lost
        self.losing: set[asyncio.StreamWriter] = set()  # clients whose next reply is lost
        self.stalled: set[asyncio.StreamWriter] = set()  # both ends of connections that saw a cut
        self.connections: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def set_refusing(self, refusing: bool) -> None:
        """Stop listening (connections refused, open ones reset), or listen again."""
        if not refusing:
            await self.start()
            return
        self.server.close()
        for end in [*self.stalled, *(end for pair in self.connections for end in pair)]:
            end.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:  # accepted, then silence until healed
            self.stalled.add(writer)
            await _drain(reader)
            return
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()  # the node itself is down: refused, as without a proxy
            return
        pair = (writer, upstream)
        self.connections.add(pair)
        try:
            await asyncio.gather(self._pump(reader, upstream, pair), self._pump(upstream_reader, writer, pair))
        finally:
            self.connections.discard(pair)
            for end in pair:
                end.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair) -> None:
        try:
            while data := await reader.read(65536):
                if self.cut or pair[0] in self.stalled:
                    continue  # into the black hole
                if writer is pair[1] and self.lose_replies_to and data.startswith(self.lose_replies_to):
                    self.losing.add(pair[0])
                elif writer is pair[0] and writer in self.losing:  # handled, and the answer never arrives
                    self.losing.discard(writer)
                    writer.transport.abort()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if writer.can_write_eof() and not writer.is_closing():
                try:
                    writer.write_eof()
                except OSError:
                    pass

    def set_cut(self, cut: bool) -> None:
        self.cut = cut
        if cut:
            self.stalled.update(client for client, _ in self.connections)
            return
        for writer in self.stalled:
            writer.close()
        for pair in [p for p in self.connections if p[0] in self.stalled]:
            pair[1].close()
        self.stalled.clear()


async def _drain(reader: asyncio.StreamReader) -> None:
    try:
        while await reader.read(65536):
            pass
    except (ConnectionError, OSError):
        pass


class Links:
    """One proxy per ordered pair of nodes, on an event loop of its own thread.
    `url(node, peer, peer_port)` is the URL `node` uses for `peer` (give it to the
    cluster); `partition({"a"})` cuts every link between those nodes and the rest;
    `cut(node, peer)` one way only; `heal()` opens them all again."""

    def __init__(self):
        self.links: dict[tuple[str, str], _Link] = {}
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="proxies")
        self.thread.start()

    def _run(self, call):
        async def wrapped():
            result = call()
            return await result if asyncio.iscoroutine(result) else result
        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    def url(self, node: str, peer: str, peer_port: int) -> str:
        link = _Link(peer_port)
        self._run(link.start)
        self.links[(node, peer)] = link
        return f"http://127.0.0.1:{link.port}"

    def partition(self, side: set[str]) -> None:
        def cut():
            for (node, peer), link in self.links.items():
                if (node in side) != (peer in side):
                    link.set_cut(True)
        self._run(cut)

    def cut(self, node: str, peer: str) -> None:
        """One way only: what `node` sends to `peer` vanishes (its pushes), while
        `peer` still reaches `node`."""
        self._run(lambda: self.links[(node, peer)].set_cut(True))

    def lose_replies(self, node: str, peer: str, request_start: bytes | None) -> None:
        """The link forwards requests that start with `request_start` (say
        b"POST /api/edits ") and resets the connection instead of passing on their
        reply; None: replies pass again."""
        def lose():
            self.links[(node, peer)].lose_replies_to = request_start
        self._run(lose)

    def refuse(self, node: str, peer: str, refusing: bool = True) -> None:
        """`node`'s connections to `peer` are refused (as if `peer` had stopped), or
        with False, let through again."""
        self._run(lambda: self.links[(node, peer)].set_refusing(refusing))

    def heal(self) -> None:
        self._run(lambda: [link.set_cut(False) for link in self.links.values()])

    def close(self) -> None:
        async def stop():
            for link in self.links.values():
                link.server.close()
                for writer in [*link.stalled, *(end for pair in link.connections for end in pair)]:
                    writer.close()  # every handler then ends by itself
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if tasks:
                _, stuck = await asyncio.wait(tasks, timeout=5)
                for task in stuck:
                    task.cancel()
        self._run(stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
