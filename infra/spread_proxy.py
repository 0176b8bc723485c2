"""A TCP relay for infra/schemathesis.sh: each incoming connection is relayed to the
server from the next of N loopback source addresses (127.77.0.1, 127.77.0.2, ...), so
a test client that sends one request per connection looks like N clients to the
server's per-IP rate limits. The server under test keeps the contract's limits (10/min
without a key, 120/min with one, per client address); nothing in it is relaxed.

Usage: python3 spread_proxy.py SERVER_HOST:PORT N   (prints the listening address)
"""
import asyncio
import itertools
import sys


async def pipe(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def main():
    host, port = sys.argv[1].rsplit(":", 1)
    n = int(sys.argv[2])
    sources = itertools.cycle(f"127.77.{i // 250}.{i % 250 + 1}" for i in range(n))

    async def relay(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(
                host, int(port), local_addr=(next(sources), 0)
            )
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pipe(client_reader, server_writer), pipe(server_reader, client_writer)
        )

    server = await asyncio.start_server(relay, "127.0.0.1", 0)
    print("127.0.0.1:%d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
