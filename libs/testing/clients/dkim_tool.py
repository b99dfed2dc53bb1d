#!/usr/bin/env python3
"""DKIM with dkimpy (PyPI), a signer and verifier independent of ours (mailauth).

sign:   stdin = the message; args: sign DOMAIN SELECTOR KEY_PEM_FILE [ALGORITHM=rsa-sha256|ed25519-sha256]
        stdout = the message with its DKIM-Signature field on top (relaxed/relaxed).
verify: stdin = the message; args: verify NAME=TXT... (the key records, instead of a DNS lookup)
        stdout (JSON) = {"ok": bool, "signatures": n}: every signature verifies.
"""
import json
import sys

import dkim

command = sys.argv[1]
message = sys.stdin.buffer.read()
if command == "sign":
    domain, selector, key_file = sys.argv[2:5]
    algorithm = sys.argv[5] if len(sys.argv) > 5 else "rsa-sha256"
    with open(key_file, "rb") as f:
        key = f.read()
    if algorithm == "ed25519-sha256":
        key = key.strip()  # dkimpy takes the raw 32-byte seed, base64
    signature = dkim.sign(message, selector.encode(), domain.encode(), key, canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm.encode())
    sys.stdout.buffer.write(signature + message)
elif command == "verify":
    records = dict(arg.split("=", 1) for arg in sys.argv[2:])

    def dnsfunc(name, timeout=5):
        return records.get(name.decode().rstrip("."), "").encode()

    def verifies(d, i):
        try:
            return d.verify(idx=i, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:  # a body hash mismatch and the like: a failed signature, said on stderr
            print(f"signature {i}: {e}", file=sys.stderr)
            return False

    d = dkim.DKIM(message)
    count = len([line for line in message.split(b"\r\n\r\n", 1)[0].split(b"\r\n") if line.lower().startswith(b"dkim-signature:")])
    ok = count > 0 and all(verifies(d, i) for i in range(count))
    json.dump({"ok": bool(ok), "signatures": count}, sys.stdout)
else:
    sys.exit(f"unknown command {command}")
