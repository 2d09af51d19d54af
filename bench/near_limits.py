#!/usr/bin/env python3
"""How close Gatehouse comes to this machine's limits, in one run (issue "Near the machine's
limits"; results and how to read them in docs/performance.md).

Everything runs against 127.0.0.1 with a bounded number of requests and stops by itself.
Fixed requests are driven by wrk (2 threads, 16 connections, the Lua drivers of bench/peers),
so that the load generator is not the bottleneck; multi-step flows by Python, where only the server's own CPU (from /proc)
is reported, never the client's speed.

1. signin_cpu_over_hash: the server's CPU per trusted-device sign-in (e-mail page, e-mail,
   password, the trusted device skipping the code, the account page) over the CPU its
   Argon2id hash took, both from each thread's /proc schedstat in the same run: the hashing
   threads ("argon2-N") are the hash, all threads are the sign-in. The median of three
   rounds of 40; each person signs out after the measured sign-in. Goal: <= 1.10.
2. refresh_per_s: durable refresh-token rotations per second (SQLite, synchronous=FULL, the
   data folder on the real disk), each wrk connection keeping its own chain
   (bench/peers/refresh.lua, shared with the peers' benchmark). Goal: >= 2,000.
3. <row>_vs_bare: requests per second of userinfo, introspection, discovery, JWKS and
   /healthz over a bare axum JSON handler (crates/web/examples/bare_json.rs) on the same
   runtime, driven the same way in the same run. Goals: userinfo and introspection >= 0.25,
   discovery and JWKS >= 0.6.
4. idle_rss_mib (resident memory once started and idle) and first_200_ms (from starting the
   process to the first 200 from /healthz, on an empty data folder). Goals: <= 20 MB and
   <= 100 ms. rss_after_quiet_mib: resident memory after sign-ins and then a quiet spell
   longer than the hashing pool keeps its Argon2 buffers.

Usage: python3 bench/near_limits.py RELEASE_GATEHOUSE BARE_JSON [--quick]
  cargo build --release -p gatehouse && cargo build --release -p gatehouse-web --example bare_json
  python3 bench/near_limits.py target/release/gatehouse target/release/examples/bare_json
"""

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from token_load import EMAIL, PASSWORD, REDIRECT_URI, Client, TokenClient, authorize, basic, cpu_seconds, read_code, rss_kib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
WRK_THREADS, WRK_CONNECTIONS = 2, 16
QUICK = "--quick" in sys.argv
WRK_SECONDS = 3 if QUICK else 8
SIGN_INS = 10 if QUICK else 40
SIGN_IN_ROUNDS = 1 if QUICK else 3
QUIET_SPELL_S = 35  # longer than the hashing pool keeps its buffers (KEEP_MEMORY_WHILE_QUIET)


def tick_seconds(path):
    """utime + stime of a /proc stat file, in seconds."""
    with open(path) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hashing_cpu(pid):
    """CPU seconds of the process's Argon2 threads (named argon2-N by the hashing pool)."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as comm:
                if comm.read().startswith("argon2-"):
                    total += tick_seconds(f"/proc/{pid}/task/{tid}/stat")
        except FileNotFoundError:
            pass
    return total


def wait_for_200(host, port, path="/healthz", timeout=10.0):
    """Polls until GET path answers 200; returns the moment it did."""
    deadline = time.monotonic() + timeout
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                s.sendall(request)
                if s.recv(64).startswith(b"HTTP/1.1 200"):
                    return time.monotonic()
        except OSError:
            pass
        time.sleep(0.001)
    raise SystemExit(f"no 200 from {path} within {timeout} s")


def start(binary, env, args=("serve",)):
    """Starts a server that prints `listening on http://HOST:PORT`; returns (process, host, port, started)."""
    started = time.monotonic()
    process = subprocess.Popen([binary, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    line = process.stdout.readline().decode()
    match = re.search(r"listening on http://([\d.]+):(\d+)", line)
    if not match:
        raise SystemExit(f"{binary} did not start: {line!r}")
    return process, match.group(1), int(match.group(2)), started


def wrk(url, seconds=None, **env):
    """One wrk run of a fixed request (bench/peers/fixed.lua; PEERS_* settings as keywords),
    or of refresh chains when PEERS_SEEDS is given (bench/peers/refresh.lua). Returns the
    right answers per second and what was not right."""
    script = "refresh.lua" if "PEERS_SEEDS" in env else "fixed.lua"
    seconds = seconds or WRK_SECONDS
    command = ["wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{seconds}s", "--timeout", "5s",
               "-s", os.path.join(HERE, "peers", script), url]
    out = subprocess.run(command, env=dict(os.environ, **env), check=True, capture_output=True, text=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("PEERS "))
    result = json.loads(line[len("PEERS "):])
    good = result["checked"] if env.get("PEERS_EXPECT") or script == "refresh.lua" else \
        result["requests"] - result["status_errors"]
    wrong = {k: result[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts",
                                    "unexpected", "lost", "starved") if result.get(k)}
    if wrong:
        wrong["first_wrong"] = result.get("first_wrong")
    return {"per_s": round(good / (result["duration_us"] / 1e6)), "requests": result["requests"], "wrong": wrong}


def refresh_seeds(scratch, tokens):
    """The seeds file refresh.lua reads: one token per line, an equal share per thread."""
    path = os.path.join(scratch, "refresh-seeds")
    with open(path, "w") as seeds:
        seeds.write("\n".join(tokens) + "\n")
    return {"PEERS_SEEDS": path, "PEERS_PER_THREAD": str(len(tokens) // WRK_THREADS)}


def first_sign_in(host, port, outbox):
    """A sign-in with an e-mailed code and "Trust this device": returns the browser."""
    browser = Client(host, port)
    browser.request("GET", "/sign-in")
    seen = set(os.listdir(outbox)) if os.path.isdir(outbox) else set()
    browser.browse(*browser.form("/sign-in", {"email": EMAIL})[:2])
    status, headers, text = browser.form("/sign-in/password", {"password": PASSWORD})
    assert status == 303, (status, text[:300])
    browser.browse(status, headers)
    code = read_code(outbox, {os.path.join(outbox, name) for name in seen})
    status, headers, text = browser.form("/sign-in/code", {"code": code, "trust_device": "on"})
    assert status == 303, (status, text[:300])
    status, headers, text = browser.browse(status, headers)
    if 'action="/sign-in/save-backup-code"' in text:
        status, headers, text = browser.form("/sign-in/save-backup-code", {})
        browser.browse(status, headers)
    return browser


class Browser(Client):
    """A Client that sends the same extra headers with every request (X-Forwarded-For)."""

    def __init__(self, host, port, headers=None):
        super().__init__(host, port)
        self.extra = headers or {}

    def request(self, method, path, fields=None, headers=None):
        return super().request(method, path, fields, dict(self.extra, **(headers or {})))


def trusted_sign_in(host, port, device_cookies, headers=None):
    """A sign-in from a trusted device: the password, then straight to the account page."""
    browser = Browser(host, port, headers)
    browser.cookies.update(device_cookies)
    browser.request("GET", "/sign-in")
    browser.browse(*browser.form("/sign-in", {"email": EMAIL})[:2])
    status, headers, text = browser.form("/sign-in/password", {"password": PASSWORD})
    status, headers, text = browser.browse(status, headers)
    if status != 200 or "Sign out" not in text:
        raise SystemExit(f"a trusted-device sign-in did not reach the account page: {status} {text[:300]}")
    return browser


def threads_cpu_ns(pid):
    """(all threads, the Argon2 threads) CPU time in ns, from each thread's schedstat: exact,
    where /proc/PID/stat counts whole clock ticks. Threads that ended are not counted; the
    server's threads live as long as it does (runtime, hashing, SQLite connections)."""
    total = hashing = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as stat:
                ran = int(stat.read().split()[0])
            with open(f"/proc/{pid}/task/{tid}/comm") as comm:
                name = comm.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += ran
        if name.startswith("argon2-"):
            hashing += ran
    return total, hashing


def main():
    binary, bare_binary = sys.argv[1], sys.argv[2]
    results = {"cores": os.cpu_count()}
    scratch = tempfile.mkdtemp(prefix="gatehouse-limits-", dir="/var/tmp")
    processes = []
    try:
        base_env = dict(os.environ, GATEHOUSE_LISTEN="127.0.0.1:0", GATEHOUSE_LOG="warn")
        for name in ("GATEHOUSE_SMTP_URL", "GATEHOUSE_CONFIG", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_PUBLIC_URL"):
            base_env.pop(name, None)

        # 4. Start time and idle memory, on an empty data folder.
        env = dict(base_env, GATEHOUSE_DATA_DIR=os.path.join(scratch, "empty"))
        server, host, port, started = start(binary, env)
        processes.append(server)
        results["first_200_ms"] = round((wait_for_200(host, port) - started) * 1000, 1)
        time.sleep(2)
        results["idle_rss_mib"] = round(rss_kib(server.pid, "VmRSS") / 1024, 1)
        # Of which: the process's own memory, and the executable's code pages (clean,
        # file-backed, shared with the page cache).
        results["idle_rss_anon_mib"] = round(rss_kib(server.pid, "RssAnon") / 1024, 1)
        results["idle_rss_file_mib"] = round(rss_kib(server.pid, "RssFile") / 1024, 1)
        server.terminate()
        server.wait()

        # A data folder with one person and one product.
        data = os.path.join(scratch, "data")
        env = dict(base_env, GATEHOUSE_DATA_DIR=data)
        subprocess.run([binary, "user", "add", "--email", EMAIL, "--password-stdin"],
                       input=PASSWORD.encode(), env=env, check=True, capture_output=True)
        client = json.loads(subprocess.run(
            [binary, "client", "add", "--name", "Bench", "--redirect-uri", REDIRECT_URI, "--signing-alg", "EdDSA"],
            env=env, check=True, capture_output=True).stdout)
        client["signing_alg"] = "EdDSA"
        server, host, port, _ = start(binary, env)
        processes.append(server)
        bare, bare_host, bare_port, _ = start(bare_binary, base_env, args=())
        processes.append(bare)
        base = f"http://{host}:{port}"

        # 1. Trusted-device sign-ins: the server's CPU over its hashing threads' CPU.
        browser = first_sign_in(host, port, os.path.join(data, "outbox"))
        device = {k: v for k, v in browser.cookies.items() if k in ("gatehouse_trust", "gatehouse_device")}
        assert "gatehouse_trust" in device, browser.cookies.keys()
        trusted_sign_in(host, port, device)  # warm
        # Rounds, reported by their median: CPU time from /proc moves by a few ticks from
        # round to round, and a round may share the machine with housekeeping.
        # Each person signs out afterwards, outside the measured time, so that sessions do
        # not pile up on the account page as they would for nobody.
        rounds = []
        for _ in range(SIGN_IN_ROUNDS):
            total = hashing = 0
            for _ in range(SIGN_INS):
                before = threads_cpu_ns(server.pid)
                signed_in = trusted_sign_in(host, port, device)
                after = threads_cpu_ns(server.pid)
                total += after[0] - before[0]
                hashing += after[1] - before[1]
                signed_in.form("/sign-out", {})
            rounds.append((total / hashing, total / 1e9, hashing / 1e9))
        ratio, total, hashing = sorted(rounds)[len(rounds) // 2]
        results["signin_cpu_ms"] = round(total / SIGN_INS * 1000, 2)
        results["hash_cpu_ms"] = round(hashing / SIGN_INS * 1000, 2)
        results["signin_cpu_over_hash"] = round(ratio, 3)
        results["signin_rounds"] = [round(r[0], 3) for r in rounds]

        # Tokens for the fixed requests: one access token, and a refresh chain per connection
        # plus one spare per thread (wrk calls request() once to check a script).
        chains = [TokenClient(host, port, client, browser) for _ in range(WRK_CONNECTIONS + WRK_THREADS)]
        code = authorize(browser, client)
        status, _, text = Client(host, port).request(
            "POST", "/oauth2/token", {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
            {"Authorization": basic(client)})
        assert status == 200, text
        access = json.loads(text)["access_token"]
        auth = basic(client)

        # 2 and 3. Rates, bare axum and Gatehouse's rows taking turns.
        rows = {
            "bare_json": lambda: wrk(f"http://{bare_host}:{bare_port}/json"),
            "healthz": lambda: wrk(f"{base}/healthz"),
            "discovery": lambda: wrk(f"{base}/.well-known/openid-configuration", PEERS_EXPECT='"issuer"'),
            "jwks": lambda: wrk(f"{base}/oauth2/jwks", PEERS_EXPECT='"keys"'),
            "userinfo": lambda: wrk(f"{base}/oauth2/userinfo", PEERS_AUTHORIZATION=f"Bearer {access}",
                                    PEERS_EXPECT='"sub"'),
            "introspection": lambda: wrk(f"{base}/oauth2/introspect", PEERS_METHOD="POST", PEERS_BODY=f"token={access}",
                                         PEERS_CONTENT_TYPE="application/x-www-form-urlencoded",
                                         PEERS_AUTHORIZATION=auth, PEERS_EXPECT='"active":true'),
        }
        rates = {name: [] for name in rows}
        problems = {}
        for _ in range(1 if QUICK else 2):
            for name, run in rows.items():
                outcome = run()
                rates[name].append(outcome["per_s"])
                if outcome["wrong"]:
                    problems[name] = outcome["wrong"]
        best = {name: max(values) for name, values in rates.items()}
        for name, rate in best.items():
            results[f"{name}_per_s"] = rate
            if name != "bare_json":
                results[f"{name}_vs_bare"] = round(rate / best["bare_json"], 3)

        cpu_before = cpu_seconds(server.pid)
        refresh = wrk(f"{base}/oauth2/token", PEERS_PATH="/oauth2/token", PEERS_AUTHORIZATION=auth,
                      **refresh_seeds(scratch, [c.refresh_token for c in chains]))
        results["refresh_per_s"] = refresh["per_s"]
        results["refresh_cpu_ms"] = round((cpu_seconds(server.pid) - cpu_before) * 1000 / max(1, refresh["requests"]), 3)
        if refresh["wrong"]:
            problems["refresh"] = refresh["wrong"]
        results["problems"] = problems

        # Memory after the sign-ins, once the hashing pool has had its quiet spell.
        if not QUICK:
            time.sleep(QUIET_SPELL_S)
            results["rss_after_quiet_mib"] = round(rss_kib(server.pid, "VmRSS") / 1024, 1)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
