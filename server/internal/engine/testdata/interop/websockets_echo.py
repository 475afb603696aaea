"""Drive an echo server with Python's websockets, a client nobody here wrote.

server/internal/engine/interop_test.go runs it; by hand:

    /usr/bin/python3 server/internal/engine/testdata/interop/websockets_echo.py ws://127.0.0.1:8080/ws

/usr/bin/python3 because websockets comes from Debian's python3-websockets.
Messages of each size go through the asyncio client, websockets.connect.
That client only fragments text as a list of str, so every cut falls
between characters. A cut inside a character, with a ping between the
fragments, needs websockets' Sans-I/O protocol, which frames bytes as the
caller gives them, over a plain socket.

It prints one JSON line of results and exits non-zero on any mismatch.
"""

import asyncio
import socket
import sys

import websockets
import websockets.uri
from websockets.frames import OP_BINARY, OP_CONT, OP_PONG, OP_TEXT, Frame

try:
    from websockets.client import ClientProtocol
    from websockets.protocol import CONNECTING
except ImportError:  # websockets < 11 names them ClientConnection, connection
    from websockets.client import ClientConnection as ClientProtocol
    from websockets.connection import CONNECTING

# The boundaries of the 7-bit, 16-bit and 64-bit length forms (RFC 6455 5.2).
SIZES = [0, 125, 126, 65535, 65536]
from report import TIMEOUT, check, finish


def text(n):
    """Return a str of exactly n UTF-8 bytes mixing 1- to 4-byte characters."""
    s = "aé中😀" * (n // 10) + "x" * (n % 10)  # 1+2+3+4 = 10 bytes a unit
    assert len(s.encode()) == n, (n, len(s.encode()))
    return s


def binary(n):
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


async def recv(ws, name):
    try:
        return await asyncio.wait_for(ws.recv(), TIMEOUT)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no echo of {name} after {TIMEOUT}s") from None


def describe(m):
    b = m.encode() if isinstance(m, str) else m
    kind = "text" if isinstance(m, str) else "binary"
    return f"{kind} {len(b)} bytes, head {b[:16].hex()}"


async def sizes(url):
    # compression=None: the server negotiates no extension anyway; say so.
    async with websockets.connect(url, compression=None, max_size=1 << 20) as ws:
        for make in (text, binary):
            for n in SIZES:
                name = f"{'text' if make is text else 'binary'} {n}"
                want = make(n)
                await ws.send(want)
                got = await recv(ws, name)
                ok = type(got) is type(want) and got == want
                check(name, ok, None if ok else f"got {describe(got)}, want {describe(want)}")

        # A list of str is sent as one fragmented text message, a frame each.
        name = "text fragmented between characters"
        parts = ["é" * 100, "中" * 50, "😀" * 30, ""]
        want = "".join(parts)
        await ws.send(parts)
        got = await recv(ws, name)
        ok = got == want
        check(name, ok, None if ok else f"got {describe(got)}, want {describe(want)}")

        await ws.close(code=1000)
        check("close 1000 echoed", ws.close_code == 1000, f"close code {ws.close_code}")


class SansIO:
    """A blocking socket driven by websockets' Sans-I/O protocol."""

    def __init__(self, url):
        self.proto = ClientProtocol(websockets.uri.parse_uri(url))
        wsuri = self.proto.wsuri
        self.sock = socket.create_connection((wsuri.host, wsuri.port), timeout=TIMEOUT)
        self.frames = []  # data frames received and not yet taken
        self.pongs = []  # pong payloads received
        self.proto.send_request(self.proto.connect())
        self.flush()
        while self.proto.state is CONNECTING and self.proto.handshake_exc is None:
            if not self.read():
                raise EOFError("connection closed during the handshake")
        if self.proto.handshake_exc is not None:
            raise self.proto.handshake_exc

    def flush(self):
        for b in self.proto.data_to_send():
            if b:
                self.sock.sendall(b)
            else:
                self.sock.shutdown(socket.SHUT_WR)

    def read(self):
        """Read once from the socket; return the bytes read, b"" at EOF."""
        b = self.sock.recv(1 << 16)
        if b:
            self.proto.receive_data(b)
        else:
            self.proto.receive_eof()
        self.flush()  # the protocol's pongs and close reply
        for e in self.proto.events_received():
            if isinstance(e, Frame) and e.opcode is OP_PONG:
                self.pongs.append(e.data)
            elif isinstance(e, Frame) and e.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                self.frames.append(e)
        return b

    def message(self):
        """Return the next data message as (opcode, payload), reassembled."""
        op, data = None, b""
        while True:
            while not self.frames:
                if not self.read():
                    raise EOFError("connection closed before a message")
            f = self.frames.pop(0)
            op = op if f.opcode is OP_CONT else f.opcode
            data += f.data
            if f.fin:
                return op, data

    def pong(self):
        """Return the payload of the next pong."""
        while not self.pongs:
            if not self.read():
                raise EOFError("connection closed before a pong")
        return self.pongs.pop(0)


def fragmented(url):
    # One text message in three fragments, cut after the first and after
    # the second byte of 中 (E4 B8 AD), with a ping between the first two.
    # RFC 6455 5.4: control frames may be injected in the middle of a
    # fragmented message; only the whole message must be valid UTF-8.
    c = SansIO(url)
    want = "split→中←here".encode()
    at = want.index("中".encode())
    c.proto.send_text(want[: at + 1], fin=False)
    c.proto.send_ping(b"mid-message")
    c.proto.send_continuation(want[at + 1 : at + 2], fin=False)
    c.proto.send_continuation(want[at + 2 :], fin=True)
    c.flush()
    name = "text fragmented inside 中, ping between fragments"
    op, got = c.message()
    ok = op is OP_TEXT and got == want
    check(name, ok, None if ok else f"got opcode {op} {got.hex()}, want text {want.hex()}")
    pong = c.pong()
    check("pong between fragments", pong == b"mid-message", f"pong payload {pong.hex()}")

    c.proto.send_close(1000)
    c.flush()
    while c.read():  # RFC 6455 7.1.1: the server closes TCP first
        pass
    check("sans-io close 1000 echoed", c.proto.close_code == 1000, f"close code {c.proto.close_code}")
    c.sock.close()


def main(url):
    for name, run in (("asyncio client", lambda: asyncio.run(sizes(url))), ("sans-io client", lambda: fragmented(url))):
        try:
            run()
        except Exception as e:  # report every failure in the JSON line
            check(name, False, f"{type(e).__name__}: {e}")
    return finish()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: websockets_echo.py ws://HOST:PORT/ws", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
