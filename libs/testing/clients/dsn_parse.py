#!/usr/bin/env python3
"""Reads delivery status notifications with Python's email package, a parser independent of ours.

Input (stdin, JSON): {"messages": [base64 of a whole message, ...]}
Output (stdout, JSON): for each message
{"content_type", "report_type", "subject", "parts": [content types of the top-level parts], "text": the first part decoded,
 "per_message": {field: value}, "recipients": [{field: value}, ...] (field names lower case),
 "returned_type": the third part's type, "returned": its text (the header section, or the whole message)}
"""
import base64
import email
import email.policy
import json
import sys

request = json.load(sys.stdin)
out = []
for raw_b64 in request["messages"]:
    message = email.message_from_bytes(base64.b64decode(raw_b64), policy=email.policy.compat32)
    parts = message.get_payload() if message.is_multipart() else []
    result = {
        "content_type": message.get_content_type(),
        "report_type": message.get_param("report-type"),
        "subject": message.get("Subject", ""),
        "parts": [p.get_content_type() for p in parts],
        "text": parts[0].get_payload(decode=True).decode("utf-8", errors="replace") if parts and not parts[0].is_multipart() else "",
        "per_message": {},
        "recipients": [],
        "returned_type": None,
        "returned": None,
    }
    for part in parts:
        if part.get_content_type() == "message/delivery-status":
            # The email package reads the status fields as a list of header blocks: per message, then per recipient.
            blocks = part.get_payload()
            if blocks:
                result["per_message"] = {k.lower(): str(v) for k, v in blocks[0].items()}
                result["recipients"] = [{k.lower(): str(v) for k, v in b.items()} for b in blocks[1:]]
    if len(parts) >= 3:
        third = parts[2]
        result["returned_type"] = third.get_content_type()
        if third.get_content_type() == "message/rfc822":
            result["returned"] = third.get_payload()[0].as_string()
        else:
            result["returned"] = third.get_payload(decode=True).decode("utf-8", errors="replace")
    out.append(result)
json.dump(out, sys.stdout)
