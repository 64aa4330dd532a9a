"""A TCP proxy on 127.0.0.1 that holds every chunk from client to server for a delay: a database
that far away (each statement then costs at least the delay more), for the benchmarks. It runs
in a process of its own, so that the measured process's GIL and event loop do not delay it more.
`python -m bench.delay_proxy PORT DELAY` prints the port it listens on."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys


def start(target_port: int, delay: float) -> tuple[int, subprocess.Popen[str]]:
    """Starts the proxy; returns its port and its process (the caller ends it)."""
    process = subprocess.Popen([sys.executable, "-m", "bench.delay_proxy", str(target_port), str(delay)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return int(process.stdout.readline()), process


async def _serve(target_port: int, delay: float) -> None:
    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, wait: float) -> None:
        """Each chunk goes `wait` after it came, in order, whatever came before it: a link's
        latency. Slept one after another, chunks sent together (a pipeline's statements, which
        psycopg writes one by one) each cost the delay again, as no network does."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            with contextlib.suppress(OSError):
                while data := (chunk := await chunks.get())[1]:
                    if (pause := chunk[0] - loop.time()) > 0:
                        await asyncio.sleep(pause)
                    writer.write(data)
                    await writer.drain()
            writer.close()

        delivering = asyncio.create_task(deliver())
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                chunks.put_nowait((loop.time() + wait, data))
        chunks.put_nowait((loop.time() + wait, b""))
        await delivering

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_reader, server_writer, delay), pipe(server_reader, client_writer, 0))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(_serve(int(sys.argv[1]), float(sys.argv[2])))
