#!/usr/bin/env python3
"""Logs in over TLS with Python's poplib (STLS or implicit TLS) and reads the maildrop.

Input (stdin, JSON): {"host", "port", "mode": "stls" | "ssl", "cafile", "user", "password", "delete": bool}
Output (stdout, JSON): {"stat": [n, octets] | null, "messages": [base64...], "capa": [...], "error": str}
"""
import base64
import json
import poplib
import ssl
import sys

r = json.load(sys.stdin)
ctx = ssl.create_default_context(cafile=r["cafile"])
out = {"stat": None, "messages": [], "capa": [], "error": ""}
try:
    if r["mode"] == "ssl":
        client = poplib.POP3_SSL(r["host"], r["port"], context=ctx, timeout=30)
    else:
        client = poplib.POP3(r["host"], r["port"], timeout=30)
        client.stls(context=ctx)
    out["capa"] = sorted(client.capa().keys())
    client.user(r["user"])
    client.pass_(r["password"])
    out["stat"] = list(client.stat())
    for n in range(1, out["stat"][0] + 1):
        _, lines, _ = client.retr(n)
        out["messages"].append(base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode())
        if r.get("delete"):
            client.dele(n)
    client.quit()
except Exception as e:  # noqa: BLE001 - report any failure to the test
    out["error"] = f"{type(e).__name__}: {e}"
json.dump(out, sys.stdout)
