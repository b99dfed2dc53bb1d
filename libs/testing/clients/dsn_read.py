#!/usr/bin/env python3
"""Reads a delivery status notification (RFC 3464) with Python's email package.

Input (stdin, JSON): {"data_b64"}. Output (stdout, JSON): {"content_type", "report_type",
"recipients": [{"final_recipient", "action", "status", "diagnostic_code"}]}.
"""
import base64
import email
import email.policy
import json
import sys

r = json.load(sys.stdin)
msg = email.message_from_bytes(base64.b64decode(r["data_b64"]), policy=email.policy.default)
out = {"content_type": msg.get_content_type(), "report_type": msg.get_param("report-type") or "", "recipients": []}
for part in msg.walk():
    if part.get_content_type() != "message/delivery-status":
        continue
    # The payload is a list of header blocks: the per-message fields, then one per recipient.
    for block in part.get_payload()[1:]:
        out["recipients"].append({
            "final_recipient": str(block.get("Final-Recipient", "")),
            "action": str(block.get("Action", "")),
            "status": str(block.get("Status", "")),
            "diagnostic_code": str(block.get("Diagnostic-Code", "")),
        })
json.dump(out, sys.stdout)
