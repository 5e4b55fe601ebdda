#!/usr/bin/env python3
"""A transparent proxy in front of the real engine's unix socket that delays every container
removal (DELETE /containers/...) by DELAY seconds before passing it on, and logs the most
removals it held at once. A cleanup that removes one container after the other then costs
N x DELAY; one that sends them all at once costs about DELAY. Removals are passed on even
when the client has gone (the engine completes a removal it has received).

usage: slow_engine.py LISTEN_SOCKET ENGINE_SOCKET DELAY STATS_FILE"""
import asyncio
import os
import sys

listen, engine, delay, stats = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
held = 0
most = 0
seen = 0


def note():
    tmp = stats + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{most} {seen}\n")
    os.replace(tmp, stats)


async def pump_up(reader, up_writer, pending):
    global held, most, seen
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            line = data.split(b"\r\n", 1)[0]
            if line.startswith(b"DELETE ") and b"/containers/" in line:
                held += 1
                seen += 1
                most = max(most, held)
                note()
                await asyncio.sleep(delay)
                held -= 1
            up_writer.write(data)
            await up_writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        pending.set()


async def pump_down(up_reader, writer):
    try:
        while True:
            data = await up_reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass


async def handle(reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(engine)
    except OSError:
        writer.close()
        return
    sent = asyncio.Event()
    down = asyncio.ensure_future(pump_down(up_reader, writer))
    await pump_up(reader, up_writer, sent)
    # the client is done sending (or gone): give the engine time to answer, then close
    try:
        await asyncio.wait_for(down, timeout=60)
    except asyncio.TimeoutError:
        pass
    for w in (up_writer, writer):
        try:
            w.close()
        except OSError:
            pass


async def main():
    note()
    server = await asyncio.start_unix_server(handle, path=listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
