"""``citybrain serve``'s listening socket: connections accepted on it run without Nagle's algorithm."""

from __future__ import annotations

import asyncio
import socket

from citybrain.app.cli.serve import _bind


def test_accepted_connections_get_tcp_nodelay():
    """asyncio (and so uvicorn) sets TCP_NODELAY only on sockets whose protocol says TCP."""
    accepted = asyncio.Event()
    nodelay: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport):
            nodelay.append(transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()
            accepted.set()

    async def connect_once():
        sock = _bind("127.0.0.1", 0)
        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection(*sock.getsockname())
            await asyncio.wait_for(accepted.wait(), 10)
            writer.close()
            await writer.wait_closed()

    asyncio.run(connect_once())
    assert nodelay == [1]
