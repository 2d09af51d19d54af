#!/usr/bin/env python3
"""Load benchmark for Gatehouse's token endpoint, reported as ratios against this machine's limits.

What it measures (all against 127.0.0.1, a bounded number of requests, stops by itself):

1. bare_per_s: GET /healthz per second from parallel workers: the server's own floor for a
   trivial request (one database ping) on this machine, with this load generator.
2. refresh_per_s_<alg>: refresh-token grants per second for a confidential client whose ID
   tokens are signed with RS256, ES256 or EdDSA. Every grant rotates the refresh token, so
   each worker keeps its own chain, started from its own code (one /oauth2/authorize with the
   session, then one code exchange). refresh_vs_bare_<alg> divides that by bare_per_s, and
   rs256_cost_over_eddsa compares the two extremes. The rates are medians of interleaved
   rounds, and wall-clock rates move with whatever else the machine does; two steadier
   measures of what signing costs sit beside them: server_cpu_ms_per_request (the server's
   own CPU time, from /proc, per answered request; rs256_cpu_over_eddsa) and
   rs256_extra_ms_over_eddsa (one refresh at a time, the algorithms taking turns, the median
   of the paired differences).
3. token_latency_ratio: p95 latency of a refresh (EdDSA client) while other threads saturate
   password hashing with wrong passwords, over its p95 when idle. DESIGN §5 promises that a
   token exchange never waits behind password hashing: it shares the CPU, not the queue, so
   the p50 should not move and the p95 only by the CPU's time slices.
4. memory_peak_over_idle: peak resident memory over resident memory at start.

Each step is checked as it goes (statuses, a rotated refresh token, the ID token's `alg`);
anything unexpected is listed under "protocol_problems" with the request that caused it.

Usage: python3 bench/token_load.py [path/to/gatehouse]   (default: target/debug/gatehouse)
The data folder goes where tempfile puts it (TMPDIR): every refresh commits with
synchronous=FULL, so TMPDIR=/dev/shm takes the disk out and leaves the CPU cost.
"""

import base64
import glob
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

EMAIL = "bench@example.com"
PASSWORD = "correct horse battery staple"
REDIRECT_URI = "http://127.0.0.1:9/cb"
ALGS = ("RS256", "ES256", "EdDSA")
WORKERS = 4                 # parallel threads for the rate measurements
ROUNDS = 15                 # interleaved rounds of the rate measurements (medians reported)
BARE_PER_WORKER = 300       # GET /healthz per worker and round
REFRESH_PER_WORKER = 20     # refresh grants per worker, algorithm and round
SEQUENTIAL_STEPS = 150      # one-at-a-time refreshes per algorithm, taking turns
PHASES = 4                  # alternating idle / hashing phases of the latency measurement
IDLE_PROBES = 60            # sequential refreshes per idle phase
MAX_PROBES = 2000           # upper bound on refreshes measured while hashing, in all
HASH_STEPS_PER_WORKER = 10  # wrong-password steps per hashing thread and phase

problems = []
problems_lock = threading.Lock()


def problem(what, status, body):
    """Records an unexpected answer (kept short; the first few of each kind)."""
    with problems_lock:
        if sum(1 for p in problems if p["what"] == what) < 3:
            problems.append({"what": what, "status": status, "body": body[:300]})


class Client:
    """A minimal cookie-keeping client over one keep-alive connection; never follows redirects."""

    def __init__(self, host, port):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=60)
        self.cookies = {}
        self.csrf = ""

    def request(self, method, path, fields=None, headers=None):
        """Returns (status, headers as a lower-cased dict, body text)."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if fields is not None:
            body = urllib.parse.urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        found = {}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                self.cookies[key] = rest.split(";")[0]
            else:
                found[name.lower()] = value
        hidden = re.search(r'name="csrf"\s+value="([^"]*)"', text)
        if hidden:
            self.csrf = hidden.group(1)
        return response.status, found, text

    def form(self, path, fields):
        """POSTs a form with the `csrf` field read from the last page (double submit)."""
        csrf = self.csrf or self.cookies.get("gatehouse_csrf", "")
        return self.request("POST", path, dict(fields, csrf=csrf))

    def browse(self, status, headers, limit=5):
        """Follows 303s by hand like a browser, staying on this origin; returns the last answer."""
        answer = (status, headers, "")
        while limit and answer[0] in (302, 303) and answer[1].get("location", "").startswith("/"):
            answer = self.request("GET", answer[1]["location"])
            limit -= 1
        return answer


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))]


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time the process has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def filesystem_of(path):
    """The type of the filesystem holding path (fsync costs differ a lot: ext4 vs tmpfs)."""
    best, kind = "", "?"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            fields = line.split()
            point = fields[1]
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fields[2]
    return kind


def read_code(outbox, seen):
    """The six-digit code from the newest .eml in the outbox that was not there before."""
    for _ in range(100):
        fresh = sorted(set(glob.glob(os.path.join(outbox, "*"))) - seen, key=os.path.getmtime)
        for path in reversed(fresh):
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            text = re.sub(r"=\r?\n", "", text)  # quoted-printable soft line breaks
            match = re.search(r"(?<![\d#=])(\d{6})(?!\d)", text.split("\n\n", 1)[-1])
            if match:
                return match.group(1)
        time.sleep(0.05)
    raise SystemExit(f"no sign-in code arrived in {outbox}")


def sign_in(host, port, outbox):
    """One browser sign-in: e-mail, password, e-mailed code, save the backup code."""
    browser = Client(host, port)
    browser.request("GET", "/sign-in")
    seen = set(glob.glob(os.path.join(outbox, "*")))
    browser.browse(*browser.form("/sign-in", {"email": EMAIL})[:2])
    status, headers, text = browser.form("/sign-in/password", {"password": PASSWORD})
    if status != 303:
        raise SystemExit(f"password step answered {status}: {text[:300]}")
    browser.browse(status, headers)
    status, headers, text = browser.form("/sign-in/code", {"code": read_code(outbox, seen)})
    if status != 303:
        raise SystemExit(f"code step answered {status}: {text[:300]}")
    status, headers, text = browser.browse(status, headers)
    if 'action="/sign-in/save-backup-code"' in text:
        status, headers, text = browser.form("/sign-in/save-backup-code", {})
        if status != 303:
            raise SystemExit(f"save-backup-code answered {status}: {text[:300]}")
        browser.browse(status, headers)
    return browser


def basic(client):
    pair = f"{urllib.parse.quote(client['client_id'], safe='')}:{urllib.parse.quote(client['client_secret'], safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def jwt_alg(token):
    head = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["alg"]


def authorize(browser, client):
    """A code for `client` from the browser's session: /oauth2/authorize answers with a 303."""
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client["client_id"], "redirect_uri": REDIRECT_URI,
        "scope": "openid email offline_access", "state": "x", "nonce": "y",
    }, quote_via=urllib.parse.quote)
    path = f"/oauth2/authorize?{query}"
    status, headers, text = browser.request("GET", path)
    location = headers.get("location", "")
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    if status != 303 or not location.startswith(REDIRECT_URI) or "code" not in params:
        problem(f"GET {path}", status, f"Location: {location} {text}")
        raise SystemExit(f"authorization answered {status} Location={location!r}: {text[:300]}")
    if params.get("state") != ["x"]:
        problem("authorization redirect without state=x", status, location)
    return params["code"][0]


class TokenClient:
    """One refresh-token chain for one client over its own keep-alive connection."""

    def __init__(self, host, port, client, browser):
        self.http = Client(host, port)
        self.client = client
        self.auth = basic(client)
        code = authorize(browser, client)
        tokens = self.grant({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
                            "code exchange")
        if not tokens or "refresh_token" not in tokens:
            raise SystemExit(f"the code exchange gave no refresh token: {tokens}")
        self.refresh_token = tokens["refresh_token"]

    def grant(self, fields, what):
        status, headers, text = self.http.request("POST", "/oauth2/token", fields,
                                                  {"Authorization": self.auth})
        if status != 200:
            problem(f"POST /oauth2/token ({what}, {self.client['signing_alg']})", status, text)
            return None
        tokens = json.loads(text)
        if headers.get("cache-control") != "no-store":
            problem("token response without Cache-Control: no-store", status, str(headers))
        if "id_token" not in tokens or jwt_alg(tokens["id_token"]) != self.client["signing_alg"]:
            problem(f"no ID token signed with {self.client['signing_alg']} ({what})", status, text)
        return tokens

    def refresh(self):
        tokens = self.grant({"grant_type": "refresh_token", "refresh_token": self.refresh_token}, "refresh")
        if tokens is None:
            return False
        new = tokens.get("refresh_token")
        if not new or new == self.refresh_token:
            problem("refresh did not rotate the refresh token", 200, json.dumps(tokens))
            return False
        self.refresh_token = new
        return True


def check_rotation(host, port, client, browser):
    """What the benchmark relies on: a used refresh token is refused and ends the grant (S44),
    and a wrong client secret is refused with 401 and WWW-Authenticate: Basic."""
    chain = TokenClient(host, port, client, browser)
    used = chain.refresh_token
    chain.refresh()
    for what, token in (("replayed refresh token", used), ("refresh after a replay (S44)", chain.refresh_token)):
        status, _, text = chain.http.request("POST", "/oauth2/token",
                                             {"grant_type": "refresh_token", "refresh_token": token},
                                             {"Authorization": chain.auth})
        try:
            error = json.loads(text).get("error")
        except ValueError:
            error = None
        if status != 400 or error != "invalid_grant":
            problem(f"POST /oauth2/token ({what}): expected 400 invalid_grant", status, text)
    wrong = dict(client, client_secret="not-the-secret")
    status, headers, text = chain.http.request("POST", "/oauth2/token",
                                               {"grant_type": "refresh_token", "refresh_token": "x" * 43},
                                               {"Authorization": basic(wrong)})
    if status != 401 or "basic" not in headers.get("www-authenticate", "").lower():
        problem("POST /oauth2/token (wrong client secret): expected 401 invalid_client + Basic",
                status, f"{headers.get('www-authenticate')} {text}")


def parallel(workers, fn):
    """Runs fn(worker_index) once in each of `workers` threads; returns results and elapsed time."""
    results = [None] * workers
    barrier = threading.Barrier(workers + 1)

    def run(index):
        barrier.wait()
        results[index] = fn(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return results, time.perf_counter() - start


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/gatehouse"
    cores = os.cpu_count() or 1
    data = tempfile.mkdtemp(prefix="gatehouse-bench-")
    env = dict(os.environ, GATEHOUSE_DATA_DIR=data, GATEHOUSE_LISTEN="127.0.0.1:0", GATEHOUSE_LOG="warn")
    for name in ("GATEHOUSE_SMTP_URL", "GATEHOUSE_CONFIG", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_PUBLIC_URL"):
        env.pop(name, None)
    server = None
    try:
        subprocess.run([binary, "user", "add", "--email", EMAIL, "--password-stdin"],
                       input=PASSWORD.encode(), env=env, check=True, capture_output=True)
        clients = {}
        for alg in ALGS:
            out = subprocess.run([binary, "client", "add", "--name", f"Bench {alg}", "--redirect-uri",
                                  REDIRECT_URI, "--signing-alg", alg],
                                 env=env, check=True, capture_output=True).stdout
            clients[alg] = json.loads(out)
        server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        line = server.stdout.readline().decode()
        match = re.search(r"listening on http://([\d.]+):(\d+)", line)
        if not match:
            raise SystemExit(f"gatehouse did not start: {line!r}")
        host, port = match.group(1), int(match.group(2))
        idle_rss = rss_kib(server.pid, "VmRSS")

        browser = sign_in(host, port, os.path.join(data, "outbox"))

        # 1 and 2. The floor and the refresh rates, measured in interleaved rounds (the order
        # rotates each round) and reported as medians, so that load from elsewhere on the
        # machine lands on all of them alike instead of on whichever ran at the wrong moment.
        bare_clients = [Client(host, port) for _ in range(WORKERS)]
        chains = {alg: [TokenClient(host, port, clients[alg], browser) for _ in range(WORKERS)]
                  for alg in ALGS}
        for c in bare_clients:  # warm the connections and the signing keys
            c.request("GET", "/healthz")
        for alg in ALGS:
            for chain in chains[alg]:
                chain.refresh()

        def bare(i):
            return sum(1 for _ in range(BARE_PER_WORKER) if bare_clients[i].request("GET", "/healthz")[0] == 200)

        rates = {name: [] for name in ("bare",) + ALGS}
        cpu = {name: [0.0, 0] for name in rates}  # server CPU seconds, requests answered
        for round_index in range(ROUNDS):
            names = list(rates)
            names = names[round_index % len(names):] + names[:round_index % len(names)]
            for name in names:
                cpu_before = cpu_seconds(server.pid)
                if name == "bare":
                    done, elapsed = parallel(WORKERS, bare)
                else:
                    done, elapsed = parallel(
                        WORKERS, lambda i, c=chains[name]: sum(1 for _ in range(REFRESH_PER_WORKER) if c[i].refresh()))
                rates[name].append(sum(done) / elapsed)
                cpu[name][0] += cpu_seconds(server.pid) - cpu_before
                cpu[name][1] += sum(done)
        bare_per_s = statistics.median(rates["bare"])
        report_rates = {alg: statistics.median(rates[alg]) for alg in ALGS}

        # One refresh at a time, the algorithms taking turns (in a rotating order): noise from
        # the disk or the rest of the machine then falls on all three alike, and the median of
        # the paired differences is what signing costs.
        sequential = {alg: [] for alg in ALGS}
        for step in range(SEQUENTIAL_STEPS):
            for alg in ALGS[step % 3:] + ALGS[:step % 3]:
                start = time.perf_counter()
                chains[alg][0].refresh()
                sequential[alg].append(time.perf_counter() - start)
        rs256_extra = statistics.median(r - e for r, e in zip(sequential["RS256"], sequential["EdDSA"]))
        medians = {alg: statistics.median(sequential[alg]) for alg in ALGS}

        # 3. Refresh latency (EdDSA), idle and while password hashing is saturated, in
        # alternating phases for the same reason.
        probe = TokenClient(host, port, clients["EdDSA"], browser)
        probe.refresh()
        hashers = [Client(host, port) for _ in range(2 * cores)]

        def hashing_step(i):
            # A fresh sign-in for an unknown address each time: the same Argon2 work as a
            # known one (S46), and no account lockout. The per-address budget runs out after
            # 20 failures, but the hash is checked even for a refused guess, so the pool
            # stays busy either way.
            c = hashers[i]
            c.request("GET", "/sign-in")
            c.form("/sign-in", {"email": f"load{i}-{time.perf_counter_ns()}@example.com"})
            return c.form("/sign-in/password", {"password": "wrong password here"})[0]

        idle, loaded, hash_statuses = [], [], []
        hash_elapsed = 0.0
        hash_lock = threading.Lock()
        for _ in range(PHASES):
            for _ in range(IDLE_PROBES):
                start = time.perf_counter()
                probe.refresh()
                idle.append(time.perf_counter() - start)

            stop = threading.Event()

            def prober():
                while not stop.is_set() and len(loaded) < MAX_PROBES:
                    start = time.perf_counter()
                    probe.refresh()
                    loaded.append(time.perf_counter() - start)

            def hasher(i):
                local = [hashing_step(i) for _ in range(HASH_STEPS_PER_WORKER)]
                with hash_lock:
                    hash_statuses.extend(local)

            threads = [threading.Thread(target=hasher, args=(i,)) for i in range(len(hashers))]
            probing = threading.Thread(target=prober)
            hash_start = time.perf_counter()
            for t in threads:
                t.start()
            time.sleep(0.2)  # let the hashing pool fill before probing
            probing.start()
            for t in threads:
                t.join()
            hash_elapsed += time.perf_counter() - hash_start
            stop.set()
            probing.join()

        peak_rss = rss_kib(server.pid, "VmHWM")
        check_rotation(host, port, clients["EdDSA"], browser)
        idle_p95 = percentile(idle, 0.95)
        loaded_p95 = percentile(loaded, 0.95) if loaded else float("nan")
        report = {"cores": cores, "data_on": filesystem_of(data), "bare_per_s": round(bare_per_s, 1)}
        for alg in ALGS:
            report[f"refresh_per_s_{alg}"] = round(report_rates[alg], 1)
            report[f"refresh_vs_bare_{alg}"] = round(report_rates[alg] / bare_per_s, 3)
        report.update({
            "rs256_cost_over_eddsa": round(report_rates["EdDSA"] / report_rates["RS256"], 2),
            "server_cpu_ms_per_request": {name: round(1000 * c / max(n, 1), 3) for name, (c, n) in cpu.items()},
            "rs256_cpu_over_eddsa": round((cpu["RS256"][0] / max(cpu["RS256"][1], 1))
                                          / max(cpu["EdDSA"][0] / max(cpu["EdDSA"][1], 1), 1e-9), 2),
            "refresh_median_ms": {alg: round(medians[alg] * 1000, 2) for alg in ALGS},
            "rs256_extra_ms_over_eddsa": round(rs256_extra * 1000, 2),
            "rate_spread": {name: [round(min(r), 1), round(max(r), 1)] for name, r in rates.items()},
            "token_p50_ms_idle": round(statistics.median(idle) * 1000, 2),
            "token_p50_ms_while_hashing": round(statistics.median(loaded) * 1000, 2) if loaded else None,
            "token_p95_ms_idle": round(idle_p95 * 1000, 2),
            "token_p95_ms_while_hashing": round(loaded_p95 * 1000, 2),
            "token_latency_ratio": round(loaded_p95 / idle_p95, 2),
            "token_probes_while_hashing": len(loaded),
            "password_steps_per_s_while_probing": round(
                sum(1 for s in hash_statuses if s == 401) / hash_elapsed, 1),
            "hashing_other_statuses": sorted(set(s for s in hash_statuses if s != 401)),
            "memory_peak_over_idle": round(peak_rss / max(idle_rss, 1), 2),
            "memory_peak_mib": round(peak_rss / 1024, 1),
            "protocol_problems": problems,
        })
        print(json.dumps(report, indent=2))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
