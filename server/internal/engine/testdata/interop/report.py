"""What an interop script reports: each case it checked, then one JSON line.

websockets_echo.py and websockets_deflate.py import it (Python puts a
script's own directory first on sys.path).
"""

import json
import sys

import websockets

# TIMEOUT bounds each wait for the server, in seconds.
TIMEOUT = 10
results = {"client": f"websockets {websockets.__version__}", "python": sys.version.split()[0], "cases": []}


def check(name, ok, detail=None):
    results["cases"].append({"name": name, "ok": ok} if ok else {"name": name, "ok": ok, "detail": detail})


def finish():
    """Print the results as one JSON line; return 1 if a case failed, else 0."""
    failed = any(not c["ok"] for c in results["cases"])
    print(json.dumps({"ok": not failed, **results}, ensure_ascii=False))
    return 1 if failed else 0
