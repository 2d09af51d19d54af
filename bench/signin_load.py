#!/usr/bin/env python3
"""Load benchmark for Gatehouse's sign-in, reported as ratios against this machine's limits.

What it measures (all against 127.0.0.1, a bounded number of requests, stops by itself):

1. hashing_efficiency: password steps per second under parallel load, divided by the
   machine's Argon2 limit (cores / the latency of one password step when idle). 1.0 means
   the server turns every core-second of hashing into sign-ins; the rest is overhead.
2. page_latency_ratio: p95 latency of a cheap page (the code step, a database read) while the
   hashing pool is saturated, divided by its p95 when idle. DESIGN.md §5 promises that code
   checks and page views do not wait behind password hashing: this should stay near 1.
3. page_vs_static_ratio: requests per second of the sign-in page (CSRF cookie, template)
   against a static file served by the same server (the bare HTTP floor).
4. enumeration_timing_ratio: median password-step time for an unknown address over that of a
   known address with a wrong password (S46: unknown addresses are checked against a dummy
   hash, so this should be 1 within noise).
5. overload: with far more clients than the hashing queue holds, the share answered 503 with
   Retry-After, and peak memory over idle memory (bounded queue: memory must not grow with load).

Usage: python3 bench/signin_load.py [path/to/gatehouse]   (default: target/debug/gatehouse)
"""

import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

PASSWORD = "correct horse battery staple"


class Client:
    """A minimal cookie-keeping client over one keep-alive connection."""

    def __init__(self, host, port):
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.cookies = {}

    def request(self, method, path, fields=None):
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            fields = dict(fields, csrf=self.cookies.get("gatehouse_csrf", ""))
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        response.read()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
        return response.status

    def start_sign_in(self, email):
        self.request("GET", "/sign-in")
        self.request("POST", "/sign-in", {"email": email})


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def timed(fn, count):
    latencies = []
    for _ in range(count):
        start = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - start)
    return latencies


def parallel(workers, per_worker, fn):
    """Runs fn(worker_index) per_worker times in each of `workers` threads; returns results."""
    results = []
    lock = threading.Lock()

    def run(index):
        local = [fn(index) for _ in range(per_worker)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/gatehouse"
    cores = os.cpu_count() or 1
    data = tempfile.mkdtemp(prefix="gatehouse-bench-")
    env = dict(os.environ, GATEHOUSE_DATA_DIR=data, GATEHOUSE_LISTEN="127.0.0.1:0", GATEHOUSE_LOG="warn")
    for email in ("bench@example.com", "timing@example.com"):
        subprocess.run([binary, "user", "add", "--email", email, "--password-stdin"],
                       input=PASSWORD.encode(), env=env, check=True, capture_output=True)
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = server.stdout.readline().decode()
        match = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not match:
            raise SystemExit(f"gatehouse did not start: {line!r}")
        host, port = match.group(1), int(match.group(2))
        idle_rss = rss_kib(server.pid, "VmRSS")

        # A browser parked on the code step, for the cheap-page measurements.
        parked = Client(host, port)
        parked.start_sign_in("bench@example.com")
        parked.request("POST", "/sign-in/password", {"password": PASSWORD})

        # 1. The Argon2 limit: one password step at a time (wrong passwords on unknown
        # addresses: the same hash work, no lockout on the bench account).
        def one_password_step(i=0, client=Client(host, port)):
            client.start_sign_in(f"nobody{time.perf_counter_ns()}@example.com")
            return client.request("POST", "/sign-in/password", {"password": "wrong password here"})

        for _ in range(3):
            one_password_step()
        solo = statistics.median(timed(one_password_step, 15))
        limit = cores / solo

        # S46: a known address with a wrong password against an unknown address.
        def wrong_password_for(email):
            client = Client(host, port)

            def step():
                client.start_sign_in(email)
                client.request("POST", "/sign-in/password", {"password": "wrong password here"})
            return step

        known = statistics.median(timed(wrong_password_for("timing@example.com"), 15))
        unknown = statistics.median(timed(wrong_password_for("nobody-at-all@example.com"), 15))

        # Cheap page when idle.
        idle_page = timed(lambda: parked.request("GET", "/sign-in/code"), 200)

        # 2. Hashing under parallel load, with the page measured alongside.
        clients = [Client(host, port) for _ in range(2 * cores)]

        def loaded_step(i):
            c = clients[i]
            c.start_sign_in(f"load{i}-{time.perf_counter_ns()}@example.com")
            return c.request("POST", "/sign-in/password", {"password": "wrong password here"})

        page_under_load = []
        stop = threading.Event()

        def probe():
            probe_client = Client(host, port)
            probe_client.cookies = dict(parked.cookies)
            while not stop.is_set():
                start = time.perf_counter()
                probe_client.request("GET", "/sign-in/code")
                page_under_load.append(time.perf_counter() - start)

        prober = threading.Thread(target=probe)
        prober.start()
        statuses, elapsed = parallel(len(clients), 20, loaded_step)
        stop.set()
        prober.join()
        hashed = sum(1 for s in statuses if s == 401)
        rate = hashed / elapsed

        # 3. Sign-in page against a static file on the same server.
        page_client, static_client = Client(host, port), Client(host, port)
        page_client.request("GET", "/sign-in")
        page_time = sum(timed(lambda: page_client.request("GET", "/sign-in"), 500))
        static_time = sum(timed(lambda: static_client.request("GET", "/static/gatehouse.css"), 500))

        # 4. Overload: many more clients than the queue holds.
        flood = [Client(host, port) for _ in range(24 * cores)]

        def flood_step(i):
            c = flood[i]
            c.start_sign_in(f"flood{i}-{time.perf_counter_ns()}@example.com")
            return c.request("POST", "/sign-in/password", {"password": "wrong password here"})

        flood_statuses, _ = parallel(len(flood), 3, flood_step)
        peak_rss = rss_kib(server.pid, "VmHWM")

        report = {
            "cores": cores,
            "argon2_password_step_ms": round(solo * 1000, 1),
            "argon2_limit_per_s": round(limit, 1),
            "password_steps_per_s_under_load": round(rate, 1),
            "hashing_efficiency": round(rate / limit, 2),
            "code_page_p95_ms_idle": round(percentile(idle_page, 0.95) * 1000, 2),
            "code_page_p95_ms_while_hashing": round(percentile(page_under_load, 0.95) * 1000, 2),
            "page_latency_ratio": round(percentile(page_under_load, 0.95) / percentile(idle_page, 0.95), 2),
            "enumeration_timing_ratio": round(unknown / known, 2),
            "page_vs_static_ratio": round(static_time / page_time, 2),
            "overload_requests": len(flood_statuses),
            "overload_503_share": round(sum(1 for s in flood_statuses if s == 503) / len(flood_statuses), 2),
            "overload_other_statuses": sorted(set(s for s in flood_statuses if s not in (401, 503))),
            "memory_peak_over_idle": round(peak_rss / max(idle_rss, 1), 2),
            "memory_peak_mib": round(peak_rss / 1024, 1),
        }
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
