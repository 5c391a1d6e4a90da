"""Real GraphQL clients against `sluice serve` on loopback, for Tests/SluiceServerTests/GraphQLTests.swift.

Usage: python graphql_clients.py MODE BASE_URL [JSON_ARGUMENTS]
Prints one JSON document on standard output (what the Swift test checks); exits non-zero on a client error.

Modes:
  http       run each {"query", "variables"} of the arguments with httpx POSTs (and one gql HTTPX request);
             print the list of response bodies
  stream     open N subscriptions (graphql-transport-ws via gql, or legacy graphql-ws) with a filter, read
             until each has `count` events (or `timeout` seconds); print the cursors each received
  named      one legacy graphql-ws `query(name:, params:, interval:)` subscription; print the first two data
  refused    a graphql-transport-ws connection without a token; print the close code and reason
  stall      one raw graphql-transport-ws subscriber that stops reading; then read everything and print the
             close code and reason the server sent
"""

import asyncio
import json
import socket as sockets
import sys
from urllib.parse import urlparse

import httpx
import websockets
from gql import Client, gql
from gql.transport.exceptions import TransportClosed, TransportConnectionFailed
from gql.transport.httpx import HTTPXAsyncTransport
from gql.transport.websockets import WebsocketsTransport


class InfrahubWebsocketsTransport(WebsocketsTransport):
    """gql's legacy graphql-ws transport, without waiting for connection_ack: Infrahub (and Sluice, following
    it, spec §d.2) sends none."""

    async def _send_init_message_and_wait_ack(self) -> None:
        await self._send(json.dumps({"type": "connection_init", "payload": self.init_payload}))


def ws_url(base):
    return base.replace("http://", "ws://") + "/graphql"


async def http_mode(base, arguments):
    bodies = []
    async with httpx.AsyncClient(timeout=30) as client:
        for request in arguments["requests"]:
            reply = await client.post(base + "/graphql", json=request, headers=arguments.get("headers", {}))
            bodies.append({"status": reply.status_code, "body": reply.json()})
    # The same UI query through gql's own HTTPX transport (it raises on GraphQL errors).
    first = arguments["requests"][0]
    transport = HTTPXAsyncTransport(url=base + "/graphql", headers=arguments.get("headers", {}))
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        result = await session.execute(gql(first["query"]), variable_values=first.get("variables"))
    return {"bodies": bodies, "gql": result}


RECONNECTS = []
# `stream` with {"print_each": true}: each cursor on its own line as it arrives (for a client killed mid-stream).
PRINT_EACH = False


async def stream_one(base, protocol, query, variables, count, timeout, headers, disconnect_after=None):
    """Reads `count` events; with `disconnect_after`, drops the connection after that many and resumes on a new
    one with `after` = the last cursor received (Sluice's resume rule: no gap, no duplicate). A connection the
    server closes (4413: this client fell behind) is resumed the same way, and counted in RECONNECTS."""
    cursors = []
    deadline = asyncio.get_running_loop().time() + timeout
    variables = dict(variables)
    while len(cursors) < count and asyncio.get_running_loop().time() < deadline:
        if protocol == "graphql-transport-ws":
            transport = WebsocketsTransport(
                url=ws_url(base), subprotocols=["graphql-transport-ws"], headers=headers
            )
        else:
            transport = InfrahubWebsocketsTransport(url=ws_url(base), subprotocols=["graphql-ws"], headers=headers)
        stop_at = count if disconnect_after is None else min(count, len(cursors) + disconnect_after)
        try:
            async with Client(transport=transport, fetch_schema_from_transport=False) as session:
                async def read():
                    async for result in session.subscribe(gql(query), variable_values=variables):
                        cursors.append(int(result["events"]["cursor"]))
                        if PRINT_EACH:
                            print(cursors[-1], flush=True)
                        if len(cursors) >= stop_at:
                            return

                await asyncio.wait_for(read(), max(0.1, deadline - asyncio.get_running_loop().time()))
        except asyncio.TimeoutError:
            break
        except (TransportClosed, TransportConnectionFailed, websockets.ConnectionClosed) as error:
            RECONNECTS.append(str(error))
        if cursors:
            variables["after"] = str(cursors[-1])
    return cursors


async def stream_mode(base, arguments):
    global PRINT_EACH
    PRINT_EACH = arguments.get("print_each", False)
    tasks = [
        stream_one(
            base,
            arguments.get("protocol", "graphql-transport-ws"),
            arguments["query"],
            arguments.get("variables", {}),
            arguments["count"],
            arguments["timeout"],
            arguments.get("headers", {}),
            arguments.get("disconnect_after") if number == 0 else None,
        )
        for number in range(arguments.get("clients", 1))
    ]
    return {"cursors": await asyncio.gather(*tasks), "reconnects": RECONNECTS}


async def named_mode(base, arguments):
    transport = InfrahubWebsocketsTransport(url=ws_url(base), subprotocols=["graphql-ws"])
    results = []
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        async for result in session.subscribe(gql(arguments["query"])):
            results.append(result)
            if len(results) >= 2:
                break
    return {"results": results}


async def stall_mode(base, arguments):
    """A subscriber that stops reading; once the others are done it reads everything the server sent."""
    # A small receive buffer (which also turns off the kernel's autotuning, up to 32 MB here): the server's
    # writes block after a few MB, not after the whole load.
    address = urlparse(base)
    raw = sockets.socket(sockets.AF_INET, sockets.SOCK_STREAM)
    raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_RCVBUF, 65536)
    raw.connect((address.hostname, address.port))
    raw.setblocking(False)
    async with websockets.connect(
        ws_url(base),
        sock=raw,
        subprotocols=["graphql-transport-ws"],
        max_size=None,
        max_queue=None,
        ping_interval=None,
    ) as socket:
        await socket.send(json.dumps({"type": "connection_init"}))
        ack = json.loads(await socket.recv())
        await socket.send(
            json.dumps({"type": "subscribe", "id": "1", "payload": {"query": arguments["query"]}})
        )
        # Stall: the event loop blocks on standard input, so nothing is read until the test says go.
        print("stalled", flush=True)
        sys.stdin.readline()
        received = 0
        try:
            while True:
                message = await asyncio.wait_for(socket.recv(), 60)
                if json.loads(message).get("type") == "next":
                    received += 1
        except websockets.ConnectionClosed as closed:
            frame = closed.rcvd
            return {
                "ack": ack.get("type"),
                "received": received,
                "code": frame.code if frame else None,
                "reason": frame.reason if frame else None,
            }


async def refused_mode(base, arguments):
    """A graphql-transport-ws connection without a token: the close code and reason the server sends."""
    async with websockets.connect(ws_url(base), subprotocols=["graphql-transport-ws"]) as socket:
        try:
            await socket.send(json.dumps({"type": "connection_init"}))
            await asyncio.wait_for(socket.recv(), 10)
        except websockets.ConnectionClosed as closed:
            return {"code": closed.rcvd.code if closed.rcvd else None, "reason": closed.rcvd.reason if closed.rcvd else None}
    return {"code": None}


def main():
    mode, base = sys.argv[1], sys.argv[2]
    arguments = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    run = {
        "http": http_mode,
        "stream": stream_mode,
        "named": named_mode,
        "stall": stall_mode,
        "refused": refused_mode,
    }[mode]
    print(json.dumps(asyncio.run(run(base, arguments))), flush=True)


if __name__ == "__main__":
    main()
