"""Send messages at --max-message to an echo server with Python's websockets,
permessage-deflate on.

server/interop_maxmessage_test.go runs it; by hand, against
`wspush serve --echo --max-message 65536`:

    /usr/bin/python3 server/testdata/interop/websockets_maxmessage.py ws://127.0.0.1:8080/ws 65536

MAX is the server's --max-message. websockets compresses every message it
sends, with zlib: at its default memLevel 5, data that does not compress goes
in 2 KiB stored blocks, 5 bytes over each; at memLevel 1, zlib's worst, in
128-byte ones. For each of the two, MAX-1, MAX and MAX+1 bytes of compressible
text (JSON) and incompressible binary (pseudo-random bytes) go whole and in 16
fragments (each compressed and flushed on its own), each on a connection of
its own: up to MAX the echo must come back equal, over it the server must
close with 1009. The limit is on the message, not on its compressed form.

It prints one JSON line of results and exits non-zero on any mismatch.
"""

import asyncio
import json
import random
import sys

import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

TIMEOUT = 10
FRAGMENTS = 16
results = {"client": f"websockets {websockets.__version__}", "python": sys.version.split()[0], "cases": []}
failed = False


def check(name, ok, detail=None):
    global failed
    results["cases"].append({"name": name, "ok": ok} if ok else {"name": name, "ok": ok, "detail": detail})
    if not ok:
        failed = True


def json_text(n):
    """Return exactly n bytes of push-like JSON, as str (ASCII)."""
    parts, size, i = [], 0, 0
    while size < n:
        s = f'{{"type":"push","id":"m{i}","data":{{"price":{i * 1.25},"note":"order filled"}}}},'
        parts.append(s)
        size += len(s)
        i += 1
    return "".join(parts)[:n]


def noise(n):
    return random.Random(n).randbytes(n)


def fragments(m):
    step = -(-len(m) // FRAGMENTS)
    return [m[i : i + step] for i in range(0, len(m), step)]


async def case(url, settings, name, want, fragmented, maxsize):
    if settings is None:
        extensions = None  # websockets' own permessage-deflate, memLevel 5
    else:
        extensions = [ClientPerMessageDeflateFactory(compress_settings=settings)]
    async with websockets.connect(url, extensions=extensions, max_size=4 * maxsize) as ws:
        exts = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        if not exts.startswith("permessage-deflate"):
            check(name, False, f"permessage-deflate not negotiated: {exts!r}")
            return
        await ws.send(fragments(want) if fragmented else want)
        try:
            got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        except websockets.ConnectionClosed as e:
            code = e.rcvd.code if e.rcvd else None
            reason = e.rcvd.reason if e.rcvd else None
            if len(want) > maxsize:
                check(name, code == 1009, f"closed with {code} {reason!r}, want 1009")
            else:
                check(name, False, f"{len(want)} bytes within {maxsize}: closed with {code} {reason!r}")
            return
        except asyncio.TimeoutError:
            check(name, False, f"no echo and no close after {TIMEOUT}s")
            return
        if len(want) > maxsize:
            check(name, False, f"{len(want)} bytes over {maxsize} came back ({len(got)} bytes), want a 1009 close")
        else:
            check(name, got == want, f"echo of {len(got)} bytes ({type(got).__name__}) differs from the {len(want)} sent")


async def run(url, maxsize):
    for label, settings in (("memLevel 5 (default)", None), ("memLevel 1", {"memLevel": 1})):
        for kind, make in (("json", json_text), ("noise", noise)):
            for n in (maxsize - 1, maxsize, maxsize + 1):
                for fragmented in (False, True):
                    shape = f"in {FRAGMENTS} fragments" if fragmented else "whole"
                    name = f"{label} {kind} {n} {shape}"
                    try:
                        await case(url, settings, name, make(n), fragmented, maxsize)
                    except Exception as e:  # report it as this case's failure
                        check(name, False, f"{type(e).__name__}: {e}")


def main(url, maxsize):
    try:
        asyncio.run(run(url, maxsize))
    except Exception as e:  # report every failure in the JSON line
        check("run", False, f"{type(e).__name__}: {e}")
    print(json.dumps({"ok": not failed, **results}, ensure_ascii=False))
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: websockets_maxmessage.py ws://HOST:PORT/ws MAX", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
