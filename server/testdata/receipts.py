# receipts.py: a client of wspush's delivery receipts with Python's
# websockets (nobody here wrote it). server/receipts_test.go runs it:
#
#   /usr/bin/python3 server/testdata/receipts.py ws://127.0.0.1:8080/ws?user=py ack
#
# prints every message the server sends, one JSON line each, and then:
#   ack        answers each push that carries a "receipt" with
#              {"type":"received","ids":[its receipt]} (docs/protocol.md)
#   forge:IDS  at the welcome, acknowledges the comma-separated IDS it
#              was never sent (ref 1), and prints the server's answer
# It runs until killed.
import asyncio, json, sys
import websockets

async def main(url, mode):
    async with websockets.connect(url) as ws:
        async for raw in ws:
            m = json.loads(raw)
            print(json.dumps(m), flush=True)
            if m.get("type") == "welcome" and mode.startswith("forge:"):
                await ws.send(json.dumps({"type": "received", "ids": mode[6:].split(","), "ref": 1}))
            if m.get("type") == "push" and isinstance(m.get("receipt"), str) and mode == "ack":
                await ws.send(json.dumps({"type": "received", "ids": [m["receipt"]]}))

asyncio.run(main(sys.argv[1], sys.argv[2]))
