#!/usr/bin/env python3
"""Sends messages with Python's smtplib, an SMTP client independent of ours.

Input (stdin, JSON): {"host", "port", "messages": [{"from", "to": [...], "data_b64", "mail_options": [...], "rcpt_options": [...]}]}
All messages go through one session. Output (stdout, JSON): one result per message:
{"ok": bool, "refused": {rcpt: [code, text]}, "code": int, "text": str}
"""
import base64
import json
import smtplib
import sys

request = json.load(sys.stdin)
results = []
with smtplib.SMTP(request["host"], request["port"], timeout=60) as client:
    client.ehlo("client.test")
    for message in request["messages"]:
        data = base64.b64decode(message["data_b64"])
        try:
            refused = client.sendmail(message["from"], message["to"], data, mail_options=message.get("mail_options", []), rcpt_options=message.get("rcpt_options", []))
            results.append({"ok": True, "refused": {k: [v[0], v[1].decode()] for k, v in refused.items()}, "code": 250, "text": ""})
        except smtplib.SMTPRecipientsRefused as e:
            results.append({"ok": False, "refused": {k: [v[0], v[1].decode()] for k, v in e.recipients.items()}, "code": 0, "text": "all recipients refused"})
            client.rset()
        except smtplib.SMTPResponseException as e:
            results.append({"ok": False, "refused": {}, "code": e.smtp_code, "text": e.smtp_error.decode(errors="replace")})
            client.rset()
        except smtplib.SMTPNotSupportedError as e:
            results.append({"ok": False, "refused": {}, "code": 0, "text": str(e)})
json.dump(results, sys.stdout)
