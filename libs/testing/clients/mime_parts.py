#!/usr/bin/env python3
"""Reads a message with Python's email package, a MIME parser independent of ours.

Input (stdin, JSON): {"message_b64"}. Output (stdout, JSON): {"content_type", "defects": [...],
"parts": [{"content_type", "transfer_encoding", "payload_b64"}]} with every leaf part's payload decoded
from its Content-Transfer-Encoding, in document order.
"""
import base64
import email
import email.policy
import json
import sys

request = json.load(sys.stdin)
message = email.message_from_bytes(base64.b64decode(request["message_b64"]), policy=email.policy.compat32)
parts = []
for part in message.walk():
    if part.is_multipart():
        continue
    payload = part.get_payload(decode=True) or b""
    parts.append({
        "content_type": part.get_content_type(),
        "transfer_encoding": (part.get("Content-Transfer-Encoding") or "").strip().lower(),
        "payload_b64": base64.b64encode(payload).decode("ascii"),
    })
json.dump({"content_type": message.get_content_type(), "defects": [type(d).__name__ for d in message.defects], "parts": parts}, sys.stdout)
