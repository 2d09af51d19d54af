#!/usr/bin/env python3
"""What a refused password guess costs the server, against a checked one (S55).

Once the throttle refuses, a guess must never be checked: it costs no Argon2id hash and only
waits as long as a check takes (so it still looks like any other failure, S46). This starts
its own `gatehouse serve` on 127.0.0.1 with a fresh data folder, and reads the server's own
CPU time from /proc/PID/stat (user + system) around:

1. checked guesses: wrong passwords for addresses nobody throttles (each one Argon2id hash);
2. refused guesses: wrong passwords for an account whose budget refuses (locked after 100
   failures, set in its SQLite file, since reaching 100 for real takes days of delays),
   sent by 8 threads at once.

It prints JSON; `refused_over_checked` is the CPU of one refused guess over that of one
checked guess (S55 asks for less than 0.2). Bounded: 18 + 240 password steps, then it stops.

Usage: python3 bench/refused_guesses.py [path/to/gatehouse]   (default: target/release/gatehouse)
"""

import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from signin_load import PASSWORD, Client  # noqa: E402

# The client address (127.0.0.1 for every guess) has 20 free failures before it slows
# down: warm-up and checked guesses stay below them, so every one of those is checked.
CHECKED = 15
# Every guess starts a sign-in, and one client address may start 300 an hour (S57): the
# whole run stays below that, so each refused guess reaches the password step.
REFUSED = 240
THREADS = 8


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def waiting_at_password(host, port, email):
    client = Client(host, port)
    client.start_sign_in(email)
    return client


def guess(client):
    return client.request("POST", "/sign-in/password", {"password": "wrong password here"})


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/gatehouse"
    ticks_per_s = os.sysconf("SC_CLK_TCK")
    data = tempfile.mkdtemp(prefix="gatehouse-bench-")
    env = dict(os.environ, GATEHOUSE_DATA_DIR=data, GATEHOUSE_LISTEN="127.0.0.1:0", GATEHOUSE_LOG="warn")
    subprocess.run([binary, "user", "add", "--email", "ann@example.com", "--password-stdin"],
                   input=PASSWORD.encode(), env=env, check=True, capture_output=True)
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = server.stdout.readline().decode()
        match = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not match:
            raise SystemExit(f"gatehouse did not start: {line!r}")
        host, port = match.group(1), int(match.group(2))

        # Only the password steps are measured: every sign-in is started beforehand.
        for n in range(3):  # warm up
            guess(waiting_at_password(host, port, f"warm{n}@example.com"))
        # One unknown address each, so no account budget refuses.
        checked = [waiting_at_password(host, port, f"nobody{n}@example.com") for n in range(CHECKED)]
        before = cpu_ticks(server.pid)
        started = time.perf_counter()
        for client in checked:
            assert guess(client) == 401
        checked_s = (cpu_ticks(server.pid) - before) / ticks_per_s / CHECKED
        checked_latency = (time.perf_counter() - started) / CHECKED

        db = sqlite3.connect(os.path.join(data, "gatehouse.db"), timeout=10)
        db.execute(
            "INSERT INTO failure_counters (counter_key, failures, last_failure_at) VALUES (?, 100, ?) "
            "ON CONFLICT (counter_key) DO UPDATE SET failures = 100, last_failure_at = excluded.last_failure_at",
            ("account:ann@example.com", int(time.time())))
        db.commit()
        db.close()

        statuses = []
        lock = threading.Lock()

        batches = [[waiting_at_password(host, port, "ann@example.com") for _ in range(REFUSED // THREADS)]
                   for _ in range(THREADS)]

        def refused_guesses(batch):
            local = [guess(client) for client in batch]
            with lock:
                statuses.extend(local)

        before = cpu_ticks(server.pid)
        started = time.perf_counter()
        threads = [threading.Thread(target=refused_guesses, args=(batch,)) for batch in batches]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if set(statuses) != {401}:
            raise SystemExit(f"expected every refused guess to answer 401, got {sorted(set(statuses))}")
        refused_s = (cpu_ticks(server.pid) - before) / ticks_per_s / len(statuses)
        refused_latency = (time.perf_counter() - started) / len(statuses) * THREADS
        print(json.dumps({
            "checked_guess_cpu_ms": round(checked_s * 1000, 3),
            "checked_guess_latency_ms": round(checked_latency * 1000, 1),
            "refused_guess_cpu_ms": round(refused_s * 1000, 3),
            "refused_guess_latency_ms": round(refused_latency * 1000, 1),
            "refused_over_checked": round(refused_s / checked_s, 4),
            "refused_statuses": sorted(set(statuses)),
        }, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
