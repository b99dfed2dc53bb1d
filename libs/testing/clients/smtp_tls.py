#!/usr/bin/env python3
"""Submits one message over TLS with Python's smtplib: STARTTLS or implicit TLS, then AUTH.

Input (stdin, JSON): {"host", "port", "mode": "starttls" | "ssl", "cafile", "user", "password",
"from", "to": [...], "data_b64", optional "mail_options": [...]} (no "user": no AUTH). The server certificate is verified against cafile.
Output (stdout, JSON): {"ok": bool, "code": int, "error": str, "cipher": str, "ehlo": str}
"""
import base64
import json
import smtplib
import ssl
import sys

r = json.load(sys.stdin)
ctx = ssl.create_default_context(cafile=r["cafile"])
out = {"ok": False, "code": 0, "error": "", "cipher": "", "ehlo": ""}
try:
    if r["mode"] == "ssl":
        client = smtplib.SMTP_SSL(r["host"], r["port"], context=ctx, timeout=30)
        client.ehlo("client.test")
    else:
        client = smtplib.SMTP(r["host"], r["port"], timeout=30)
        client.ehlo("client.test")
        client.starttls(context=ctx)
        client.ehlo("client.test")
    out["ehlo"] = client.ehlo_resp.decode(errors="replace") if client.ehlo_resp else ""
    out["cipher"] = client.sock.cipher()[1]
    if r.get("user"):
        client.login(r["user"], r["password"])
    client.sendmail(r["from"], r["to"], base64.b64decode(r["data_b64"]), mail_options=r.get("mail_options", []))
    client.quit()
    out["ok"] = True
except smtplib.SMTPResponseException as e:
    out["code"] = e.smtp_code
    out["error"] = e.smtp_error.decode(errors="replace")
except Exception as e:  # noqa: BLE001 - report any failure to the test
    out["error"] = f"{type(e).__name__}: {e}"
json.dump(out, sys.stdout)
