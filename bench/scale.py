#!/usr/bin/env python3
"""Does Gatehouse slow down as it grows, and does a second node add a core's worth of sign-ins?
(issue "Near the machine's limits", goal 5; results in docs/performance.md).

1. accounts: the server's CPU per trusted-device sign-in and per refresh-token rotation with
   1,000 accounts and with 1,000,000 (seeded with SQL straight into the SQLite file, not a
   million CLI calls), each from the threads' /proc schedstat. Both servers run side by side
   and take turns for three rounds; medians. Goal: the large one costs <= 1.10 x the small one.
2. nodes: hash-bound sign-ins per second from two nodes on one PostgreSQL database, each
   pinned to its own core with taskset, over one node pinned to one core. Goal: >= 1.8.
   (PostgreSQL and the load generator share the same two cores; that is part of the answer.)

Usage: python3 bench/scale.py RELEASE_GATEHOUSE [accounts|nodes] [--quick]
PostgreSQL: GATEHOUSE_BENCH_POSTGRES (default postgres://postgres@127.0.0.1:5432/postgres).
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from near_limits import (WRK_CONNECTIONS, WRK_THREADS, first_sign_in, refresh_seeds,  # noqa: E402
                         start, threads_cpu_ns, trusted_sign_in, wrk)
from token_load import EMAIL, PASSWORD, REDIRECT_URI, TokenClient, basic  # noqa: E402

QUICK = "--quick" in sys.argv
SIGN_INS = 10 if QUICK else 40
NODE_SECONDS = 5 if QUICK else 15
ROUNDS = 1 if QUICK else 3


def base_env(data):
    env = dict(os.environ, GATEHOUSE_LISTEN="127.0.0.1:0", GATEHOUSE_LOG="warn", GATEHOUSE_DATA_DIR=data)
    for name in ("GATEHOUSE_SMTP_URL", "GATEHOUSE_CONFIG", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_PUBLIC_URL"):
        env.pop(name, None)
    return env


def seed_accounts(database, count):
    """count - 1 more accounts, with the bench account's hash (nobody signs in as them)."""
    db = sqlite3.connect(database)
    (hash_,) = db.execute("SELECT password_hash FROM accounts WHERE email = ?", (EMAIL,)).fetchone()
    now = int(time.time())
    with db:
        db.executemany(
            "INSERT INTO accounts (id, email, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
            ((str(uuid.UUID(int=n + 1, version=4)), f"person{n}@example.com", hash_, now, now)
             for n in range(count - 1)))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


class Deployment:
    """A server on a data folder of its own with `accounts` accounts, one of them signed in
    with a trusted device, and one product."""

    def __init__(self, binary, accounts):
        self.scratch = tempfile.mkdtemp(prefix="gatehouse-scale-", dir="/var/tmp")
        env = base_env(self.scratch)
        subprocess.run([binary, "user", "add", "--email", EMAIL, "--password-stdin"],
                       input=PASSWORD.encode(), env=env, check=True, capture_output=True)
        self.client = json.loads(subprocess.run(
            [binary, "client", "add", "--name", "Bench", "--redirect-uri", REDIRECT_URI, "--signing-alg", "EdDSA"],
            env=env, check=True, capture_output=True).stdout)
        self.client["signing_alg"] = "EdDSA"
        seed_accounts(os.path.join(self.scratch, "gatehouse.db"), accounts)
        self.server, self.host, self.port, _ = start(binary, env)
        self.browser = first_sign_in(self.host, self.port, os.path.join(self.scratch, "outbox"))
        self.device = {k: v for k, v in self.browser.cookies.items()
                       if k in ("gatehouse_trust", "gatehouse_device")}
        trusted_sign_in(self.host, self.port, self.device)

    def sign_in_cpu_ms(self):
        """Server CPU per trusted-device sign-in over SIGN_INS of them (each signed out
        afterwards, outside the measured time)."""
        total = 0
        for _ in range(SIGN_INS):
            before = threads_cpu_ns(self.server.pid)[0]
            signed_in = trusted_sign_in(self.host, self.port, self.device)
            total += threads_cpu_ns(self.server.pid)[0] - before
            signed_in.form("/sign-out", {})
        return total / SIGN_INS / 1e6

    def refresh(self):
        """Server CPU per refresh over a wrk run of fresh chains, and the run's outcome."""
        chains = [TokenClient(self.host, self.port, self.client, self.browser)
                  for _ in range(WRK_CONNECTIONS + WRK_THREADS)]
        before = threads_cpu_ns(self.server.pid)[0]
        outcome = wrk(f"http://{self.host}:{self.port}/oauth2/token", PEERS_PATH="/oauth2/token",
                      PEERS_AUTHORIZATION=basic(self.client),
                      **refresh_seeds(self.scratch, [c.refresh_token for c in chains]))
        spent = threads_cpu_ns(self.server.pid)[0] - before
        return spent / max(1, outcome["requests"]) / 1e6, outcome

    def stop(self):
        self.server.terminate()
        self.server.wait()
        shutil.rmtree(self.scratch, ignore_errors=True)


def median(values):
    return sorted(values)[len(values) // 2]


def accounts(binary):
    """Both deployments run side by side and take turns, round by round, so that whatever
    else the machine does in a round falls on both; medians of the rounds."""
    deployments = {}
    try:
        deployments["1k"] = Deployment(binary, 1_000)
        deployments["1m"] = Deployment(binary, 10_000 if QUICK else 1_000_000)
        seen = {name: {"sign_in": [], "refresh": [], "refresh_per_s": [], "wrong": {}} for name in deployments}
        # Sign-ins first: every refresh run leaves thousands of rotated tokens on the one
        # account, and its account page (the last step of a sign-in) reads them.
        for _ in range(ROUNDS):
            for name, deployment in deployments.items():
                seen[name]["sign_in"].append(deployment.sign_in_cpu_ms())
        for _ in range(ROUNDS):
            for name, deployment in deployments.items():
                cpu, outcome = deployment.refresh()
                seen[name]["refresh"].append(cpu)
                seen[name]["refresh_per_s"].append(outcome["per_s"])
                seen[name]["wrong"].update(outcome["wrong"])
        result = {}
        for name, values in seen.items():
            result[f"with_{name}"] = {
                "sign_in_cpu_ms": round(median(values["sign_in"]), 2),
                "sign_in_rounds": [round(v, 2) for v in values["sign_in"]],
                "refresh_cpu_ms": round(median(values["refresh"]), 3),
                "refresh_rounds": [round(v, 3) for v in values["refresh"]],
                "refresh_per_s": median(values["refresh_per_s"]),
                "refresh_wrong": values["wrong"],
            }
        small, large = result["with_1k"], result["with_1m"]
        result["sign_in_1m_over_1k"] = round(large["sign_in_cpu_ms"] / small["sign_in_cpu_ms"], 3)
        result["refresh_1m_over_1k"] = round(large["refresh_cpu_ms"] / small["refresh_cpu_ms"], 3)
        return result
    finally:
        for deployment in deployments.values():
            deployment.stop()


def sign_ins_per_s(nodes, device, seconds):
    """Trusted-device sign-ins per second, spread over the nodes, from 3 threads per node."""
    done = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(host, port, n):
        # Each thread its own client address (through the trusted proxy), so the per-address
        # sign-in window is not what is measured.
        headers = {"X-Forwarded-For": f"198.51.100.{n}"}
        while time.monotonic() < deadline:
            trusted_sign_in(host, port, device, headers)
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=worker, args=(host, port, 10 * i + k))
               for i, (host, port) in enumerate(nodes) for k in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0] / (time.monotonic() - started)


def nodes(binary):
    admin = os.environ.get("GATEHOUSE_BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"gatehouse_bench_{os.getpid()}"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    scratch = tempfile.mkdtemp(prefix="gatehouse-nodes-", dir="/var/tmp")
    processes = []
    try:
        env = dict(base_env(scratch), GATEHOUSE_DATABASE_URL=url, GATEHOUSE_TRUSTED_PROXIES="127.0.0.1/32")
        subprocess.run([binary, "user", "add", "--email", EMAIL, "--password-stdin"],
                       input=PASSWORD.encode(), env=env, check=True, capture_output=True)

        def node(core):
            process, host, port, _ = start("taskset", env, args=("-c", str(core), binary, "serve"))
            processes.append(process)
            return host, port

        first = node(0)
        browser = first_sign_in(*first, os.path.join(scratch, "outbox"))
        device = {k: v for k, v in browser.cookies.items() if k in ("gatehouse_trust", "gatehouse_device")}
        sign_ins_per_s([first], device, 2)  # warm
        one = sign_ins_per_s([first], device, NODE_SECONDS)
        second = node(1)
        sign_ins_per_s([second], device, 2)  # warm
        two = sign_ins_per_s([first, second], device, NODE_SECONDS)
        return {"one_node_one_core_per_s": round(one, 1), "two_nodes_two_cores_per_s": round(two, 1),
                "two_over_one": round(two / one, 3)}
    finally:
        for process in processes:
            process.terminate()
            process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
        subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], capture_output=True)


def main():
    binary = sys.argv[1]
    parts = [a for a in sys.argv[2:] if not a.startswith("--")] or ["accounts", "nodes"]
    results = {}
    if "accounts" in parts:
        results["accounts"] = accounts(binary)
    if "nodes" in parts:
        results["nodes"] = nodes(binary)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
