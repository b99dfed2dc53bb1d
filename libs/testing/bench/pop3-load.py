#!/usr/bin/env python3
"""One POP3 session of the benchmark load, with Python's poplib (the same client for every server).

  pop3-load.py PORT USER PASSWORD retr COUNT   log in, RETR messages 1..COUNT in order, QUIT (nothing deleted)
  pop3-load.py PORT USER PASSWORD list         log in, UIDL and LIST of the whole maildrop, QUIT

Prints one JSON line: the wall-clock start and end of the measured part (time.time(), so sessions run in
parallel can be merged), the per-command latencies in ms, and the bytes received.
"""
import json
import poplib
import sys
import time

port, user, password, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
started = time.time()
pop = poplib.POP3('127.0.0.1', port, timeout=60)
pop.user(user)
pop.pass_(password)
latencies = []
octets = 0
if mode == 'retr':
    count = int(sys.argv[5])
    measured_from = time.time()
    for n in range(1, count + 1):
        t = time.perf_counter()
        _, lines, size = pop.retr(n)
        latencies.append((time.perf_counter() - t) * 1000)
        octets += size
    measured_to = time.time()
elif mode == 'list':
    measured_from = time.time()
    t = time.perf_counter()
    uidls = pop.uidl()[1]
    latencies.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    sizes = pop.list()[1]
    latencies.append((time.perf_counter() - t) * 1000)
    measured_to = time.time()
    octets = len(uidls) + len(sizes)
else:
    sys.exit('mode must be retr or list')
pop.quit()
print(json.dumps({'session_from': started, 'session_to': time.time(), 'from': measured_from, 'to': measured_to,
                  'latencies': latencies, 'octets': octets}))
