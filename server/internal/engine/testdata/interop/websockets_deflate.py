"""Drive an echo server with Python's websockets and permessage-deflate on.

server/internal/engine/interop_deflate_test.go runs it; by hand:

    /usr/bin/python3 server/internal/engine/testdata/interop/websockets_deflate.py ws://127.0.0.1:8080/ws THRESHOLD

websockets negotiates permessage-deflate by default and compresses every
message it sends. THRESHOLD is the server's --compression-threshold.
Compressible text (JSON) and incompressible binary (pseudo-random bytes) go
both ways at sizes around the threshold, whole and fragmented; the bytes the
client reads show whether the server compressed what it echoed.

It prints one JSON line of results and exits non-zero on any mismatch.
"""

import asyncio
import random
import sys

import websockets
from websockets.legacy.client import WebSocketClientProtocol

from report import TIMEOUT, check, finish, results


def json_text(n):
    """Return exactly n bytes of push-like JSON, as str (ASCII)."""
    s, i = "", 0
    while len(s) < n:
        s += f'{{"type":"push","id":"m{i}","data":{{"price":{i * 1.25},"note":"order filled"}}}},'
        i += 1
    return s[:n]


def noise(n):
    return random.Random(n).randbytes(n)


class Counting(WebSocketClientProtocol):
    """The asyncio client protocol, counting the bytes it reads."""

    nread = 0

    def data_received(self, data):
        self.nread += len(data)
        super().data_received(data)


async def recv(ws, name):
    try:
        return await asyncio.wait_for(ws.recv(), TIMEOUT)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no echo of {name} after {TIMEOUT}s") from None


async def run(url, threshold):
    async with websockets.connect(url, create_protocol=Counting, max_size=1 << 20) as ws:
        exts = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        results["extensions"] = exts
        check("permessage-deflate negotiated", exts.startswith("permessage-deflate"), f"extensions {exts!r}")
        for kind, make in (("json", json_text), ("noise", noise)):
            for n in (0, 1, threshold - 1, threshold, threshold + 1, 1024, 65536, 200000):
                name = f"{kind} {n}"
                want = make(n)
                before = ws.nread
                await ws.send(want)
                got = await recv(ws, name)
                wire = ws.nread - before
                ok, detail = got == want, None
                if not ok:
                    detail = f"got {type(got).__name__} of {len(got)}"
                elif kind == "json" and n >= max(threshold, 256) and wire >= n / 2:
                    ok, detail = False, f"echo of {n} bytes of JSON took {wire} bytes on the wire: not compressed"
                elif (n < threshold or kind == "noise") and wire < n:
                    ok, detail = False, f"echo of {n} bytes took {wire} bytes: compressed under the threshold or incompressible"
                check(name, ok, detail)

            # A list is sent as one fragmented message, compressed as a whole.
            name = f"{kind} fragmented and compressed"
            whole = make(30000)
            parts = [whole[:7000], whole[7000:7001], whole[7001:]]
            await ws.send(parts)
            got = await recv(ws, name)
            check(name, got == whole, f"got {len(got)}, want {len(whole)}")

        await ws.close(code=1000)
        check("close 1000 echoed", ws.close_code == 1000, f"close code {ws.close_code}")


def main(url, threshold):
    try:
        asyncio.run(run(url, threshold))
    except Exception as e:  # report every failure in the JSON line
        check("run", False, f"{type(e).__name__}: {e}")
    return finish()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: websockets_deflate.py ws://HOST:PORT/ws THRESHOLD", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
