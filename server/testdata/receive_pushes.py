"""Connect users with Python's websockets, a client nobody here wrote, and
report the pushes they receive.

server/batch_test.go runs it; by hand, against a development-mode server:

    /usr/bin/python3 server/testdata/receive_pushes.py ws://127.0.0.1:8080/ws u 0 500 1

connects users u0 to u499, prints "ready" once every one has its welcome,
then waits until each has received the given number of pushes (or 30 s
pass), waits half a second more for any extra one, prints one JSON line
{"USER": [PUSH ENVELOPE, ...], ...} and exits: 0 if every user got
exactly that many pushes, 1 otherwise.
"""

import asyncio
import json
import sys

import websockets

TIMEOUT = 30


async def user(url, name, want, got, ready, start):
    async with websockets.connect(url + "?user=" + name, max_size=None, ping_interval=None) as ws:
        welcome = json.loads(await ws.recv())
        assert welcome["type"] == "welcome" and welcome["user"] == name, welcome
        ready.set_result(True) if not ready.done() else None
        await start.wait()
        mine = got.setdefault(name, [])
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        extra = None
        while True:
            left = (extra if extra is not None else deadline) - loop.time()
            if left <= 0:
                return
            try:
                m = json.loads(await asyncio.wait_for(ws.recv(), left))
            except asyncio.TimeoutError:
                return
            if m.get("type") == "push":
                mine.append(m)
                if len(mine) >= want and extra is None:
                    extra = loop.time() + 0.5


async def main():
    url, prefix, lo, hi, want = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    got = {}
    start = asyncio.Event()
    readies, tasks = [], []
    for i in range(lo, hi):
        r = asyncio.get_running_loop().create_future()
        readies.append(r)
        tasks.append(asyncio.create_task(user(url, prefix + str(i), want, got, r, start)))
        if len(tasks) % 100 == 0:
            await asyncio.gather(*readies)  # connect in steps, not all at once
    await asyncio.gather(*readies)
    print("ready", flush=True)
    start.set()
    await asyncio.gather(*tasks)
    print(json.dumps(got), flush=True)
    ok = len(got) == hi - lo and all(len(v) == want for v in got.values())
    sys.exit(0 if ok else 1)


asyncio.run(main())
