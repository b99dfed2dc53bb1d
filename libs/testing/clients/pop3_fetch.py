#!/usr/bin/env python3
"""Fetches a maildrop with Python's poplib, a POP3 client independent of ours.

Input (stdin, JSON): {"host", "port", "user", "password", "delete": bool, "end": "quit" | "drop",
"limit": at most this many messages are retrieved (and deleted) in the session; default all}
Output (stdout, JSON): {"stat": [count, octets], "list": [[n, size]], "uidl": [[n, uid]],
"messages": [base64 of each message as retrieved, CRLF line ends], "error": str}
"""
import base64
import json
import poplib
import sys

request = json.load(sys.stdin)
out = {"stat": None, "list": [], "uidl": [], "messages": [], "error": ""}
try:
    client = poplib.POP3(request["host"], request["port"], timeout=60)
    client.user(request["user"])
    client.pass_(request["password"])
    out["stat"] = list(client.stat())
    for line in client.list()[1]:
        n, size = line.decode().split()
        out["list"].append([int(n), int(size)])
    for line in client.uidl()[1]:
        n, uid = line.decode().split()
        out["uidl"].append([int(n), uid])
    for n, _ in out["list"][: request.get("limit") or None]:
        _, lines, _ = client.retr(n)
        out["messages"].append(base64.b64encode(b"".join(l + b"\r\n" for l in lines)).decode())
        if request.get("delete"):
            client.dele(n)
    if request.get("end", "quit") == "quit":
        client.quit()
    else:
        client.sock.close()  # dropped connection: no UPDATE state
except poplib.error_proto as e:
    out["error"] = e.args[0].decode(errors="replace") if isinstance(e.args[0], bytes) else str(e)
json.dump(out, sys.stdout)
