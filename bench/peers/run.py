#!/usr/bin/env python3
"""Gatehouse side by side with two peers, one run, same machine, same load generator.

Peers: oidc-provider (npm, the reference OpenID Connect provider for Node, its in-memory
adapter, started by oidc-provider.mjs) and Glewlwyd (Debian's C single sign-on server, its
OpenID Connect plugin, on SQLite). run.sh installs them and calls this script; see README.md.

For each server, on 127.0.0.1 and a free port:
1. start time: process start to the first 200 from its discovery document (Gatehouse on an
   empty data folder each time; the peers with the configuration this script wrote), then
   idle memory: VmRSS from /proc, IDLE_SETTLE_S after that first 200, before any load; the
   medians of STARTS starts;
2. one account and one confidential client (ID tokens RS256, the default of Gatehouse and
   oidc-provider), then the real authorization-code flow (Gatehouse: its HTML sign-in with
   the e-mailed code from the outbox folder; oidc-provider: its development login and consent
   forms; Glewlwyd: its password login API and grant API) for one grant whose access token
   serves userinfo and introspection;
3. each row checked once by hand (status and body), then driven by wrk (WRK_THREADS threads,
   WRK_CONNECTIONS connections) in rounds of a fixed duration whose server order rotates
   (the median is reported, with the server's own CPU time per answer): discovery, JWKS,
   userinfo, introspection (fixed.lua, after a warm-up) and token refresh (refresh.lua, fresh
   grants for every run, one per connection: no refresh token is ever sent twice);
4. last, the rotation check: a used refresh token again, then the newest one.

Prints one JSON object, then a Markdown table (rows x servers, requests/s and each peer's
ratio to Gatehouse). Everything is bounded (fixed durations, timeouts) and stops by itself.

Usage: python3 bench/peers/run.py PATH_TO_GATEHOUSE [--duration S] [--rounds N] [--servers a,b,c]
"""

import argparse
import base64
import gzip
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.dont_write_bytecode = True  # bench/__pycache__ is tracked; leave it as it is
import token_load  # noqa: E402  (the Gatehouse sign-in steps: bench/token_load.py)

HOST = "127.0.0.1"
REDIRECT_URI = "http://127.0.0.1:9/cb"
WRK_THREADS = 2
WRK_CONNECTIONS = 16
WARMUP_S = 2
IDLE_SETTLE_S = 2.0
STARTS = 3                  # starts per server for start time and idle memory (medians)
START_LIMIT_S = 60
ROWS = ("discovery", "jwks", "userinfo", "introspection", "refresh")
SERVERS = ("gatehouse", "oidc-provider", "glewlwyd")
GLEWLWYD_SQL = "/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz"
GLEWLWYD_ADMIN = ("admin", "password")  # the account Glewlwyd's own init script creates
USER = ("bench", "correct horse battery staple")

problems = []


def problem(server, what, detail=""):
    problems.append({"server": server, "what": what, "detail": str(detail)[:300]})


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def basic(client_id, secret):
    pair = f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


class Http:
    """A small cookie-keeping client over one keep-alive connection; never follows redirects."""

    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=30)
        self.cookies = {}

    def request(self, method, path, form=None, json_body=None, headers=None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif json_body is not None:
            body = json.dumps(json_body)
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # the server closed an idle keep-alive connection: one fresh try
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                if attempt == 2:
                    raise
        text = response.read().decode("utf-8", "replace")
        found = {}
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                key, _, rest = value.partition("=")
                value = rest.split(";")[0]
                if value and "expires=thu, 01 jan 1970" not in rest.lower():
                    self.cookies[key.strip()] = value
                else:
                    self.cookies.pop(key.strip(), None)
            else:
                found[name.lower()] = value
        return response.status, found, text


def as_json(text):
    try:
        return json.loads(text)
    except ValueError:
        return {}


def rss_mib(pid):
    return round(token_load.rss_kib(pid, "VmRSS") / 1024, 1)


def start(server, cmd, env, port, path, log):
    """Starts cmd, returns (process, ms from the start to the first 200 on path)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = started + START_LIMIT_S
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{server} exited with {proc.returncode} before answering; see {log.name}")
        conn = http.client.HTTPConnection(HOST, port, timeout=5)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return proc, round((time.perf_counter() - started) * 1000, 1)
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.001)
    proc.kill()
    raise SystemExit(f"{server} gave no 200 on {path} within {START_LIMIT_S} s; see {log.name}")


def stop(proc):
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """What the rows need from one running server."""

    name = ""
    durable = ""
    kept = ""

    def __init__(self, work):
        self.work = os.path.join(work, self.name)
        os.makedirs(self.work)
        self.log = open(os.path.join(self.work, "server.log"), "wb")
        self.port = free_port()
        self.proc = None
        self.facts = {}
        self.access_token = None

    # Paths (set by each kind) and the client's Basic header.
    discovery = jwks = token = userinfo = introspection = ""
    authorization = ""

    def first_starts(self, cmd, env, before_each=None, keep_last=True):
        """STARTS starts (each after `before_each`): the medians of their start times and of
        their idle memory go in the report, with every value. The last one keeps running
        when `keep_last`."""
        times, memory = [], []
        for index in range(STARTS):
            if before_each:
                before_each()
            self.proc, ms = start(self.name, cmd, env, self.port, self.discovery, self.log)
            time.sleep(IDLE_SETTLE_S)
            times.append(ms)
            memory.append(rss_mib(self.proc.pid))
            if index < STARTS - 1 or not keep_last:
                stop(self.proc)
        self.facts.update(start_ms=statistics.median(times), start_ms_each=times,
                          idle_rss_mib=statistics.median(memory), idle_rss_mib_each=memory)

    def exchange(self, code, extra=None):
        """The code exchange: returns the token response (or None, recorded as a problem)."""
        fields = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI}
        fields.update(extra or {})
        status, _, text = Http(self.port).request("POST", self.token, form=fields,
                                                   headers={"Authorization": self.authorization})
        tokens = as_json(text)
        if status != 200 or "refresh_token" not in tokens or "access_token" not in tokens:
            problem(self.name, "code exchange", f"{status} {text}")
            return None
        return tokens

    def grants(self, count):
        """`count` fresh grants: token responses, each from its own authorization code."""
        raise NotImplementedError

    def fresh_grants(self, count):
        """`count` token responses, each from its own new grant (or SystemExit)."""
        tokens = [t for t in self.grants(count) if t]
        if len(tokens) < count:
            raise SystemExit(f"{self.name}: only {len(tokens)} of {count} grants; see problems {problems}")
        return tokens

    def check_rotation(self):
        """One extra grant: a refresh rotates the token, and the used one is refused afterwards."""
        tokens = self.grants(1)[0]
        if not tokens:
            return None
        http_ = Http(self.port)
        used = tokens["refresh_token"]
        auth = {"Authorization": self.authorization}
        status, _, text = http_.request("POST", self.token, form={"grant_type": "refresh_token", "refresh_token": used},
                                        headers=auth)
        new = as_json(text).get("refresh_token")
        self.facts["refresh_answer_fields"] = sorted(as_json(text))
        if status != 200 or not new or new == used:
            problem(self.name, "refresh did not rotate the refresh token", f"{status} {text}")
            return False
        status, _, text = http_.request("POST", self.token, form={"grant_type": "refresh_token", "refresh_token": used},
                                        headers=auth)
        replay = f"{status} {as_json(text).get('error', text[:60])}"
        status, _, text = http_.request("POST", self.token, form={"grant_type": "refresh_token", "refresh_token": new},
                                        headers=auth)
        after = f"{status} {as_json(text).get('error', text[:60])}"
        return {"replayed_token_answer": replay, "then_the_newest_token_answer": after,
                "replay_ends_grant": status != 200}

    def check_rows(self):
        """One request per row by hand: what wrk then repeats must be a real answer."""
        http_ = Http(self.port)
        status, _, text = http_.request("GET", self.discovery)
        document = as_json(text)
        if status != 200 or "issuer" not in document:
            problem(self.name, "discovery", f"{status} {text}")
        for key, path in (("jwks_uri", self.jwks), ("token_endpoint", self.token),
                          ("userinfo_endpoint", self.userinfo), ("introspection_endpoint", self.introspection)):
            named = urllib.parse.urlsplit(document.get(key, "")).path
            if named.rstrip("/") != path.rstrip("/"):
                problem(self.name, f"discovery names {key} {named!r}, the benchmark uses {path!r}")
        status, _, text = http_.request("GET", self.jwks)
        if status != 200 or not as_json(text).get("keys"):
            problem(self.name, "jwks", f"{status} {text}")
        status, _, text = http_.request("GET", self.userinfo, headers={"Authorization": f"Bearer {self.access_token}"})
        if status != 200 or "sub" not in as_json(text):
            problem(self.name, "userinfo", f"{status} {text}")
        status, _, text = http_.request("POST", self.introspection, form={"token": self.access_token},
                                        headers={"Authorization": self.authorization})
        if status != 200 or as_json(text).get("active") is not True:
            problem(self.name, "introspection", f"{status} {text}")


class Gatehouse(Server):
    name = "gatehouse"
    durable = "SQLite, synchronous=FULL, in the data folder"
    kept = "on disk (SQLite, fsync per rotation)"
    discovery = "/.well-known/openid-configuration"
    jwks = "/oauth2/jwks"
    token = "/oauth2/token"
    userinfo = "/oauth2/userinfo"
    introspection = "/oauth2/introspect"

    def __init__(self, work, binary):
        super().__init__(work)
        self.binary = os.path.abspath(binary)
        self.data = os.path.join(self.work, "data")
        os.makedirs(self.data)
        self.env = dict(os.environ, GATEHOUSE_DATA_DIR=self.data, GATEHOUSE_LISTEN=f"{HOST}:{self.port}",
                        GATEHOUSE_LOG="warn")
        for name in ("GATEHOUSE_SMTP_URL", "GATEHOUSE_CONFIG", "GATEHOUSE_DATABASE_URL", "GATEHOUSE_PUBLIC_URL"):
            self.env.pop(name, None)

    def launch(self):
        version = subprocess.run([self.binary, "--version"], capture_output=True, text=True)
        self.facts["version"] = (version.stdout or version.stderr).strip().splitlines()[0] if version.returncode == 0 else "?"
        # Starts on an empty data folder (its signing keys are made then): start time and
        # idle memory; then the account and client are added with the CLI and it starts again.
        def empty_data_folder():
            shutil.rmtree(self.data)
            os.makedirs(self.data)

        self.first_starts([self.binary, "serve"], self.env, before_each=empty_data_folder, keep_last=False)
        subprocess.run([self.binary, "user", "add", "--email", token_load.EMAIL, "--password-stdin"],
                       input=token_load.PASSWORD.encode(), env=self.env, check=True, capture_output=True)
        out = subprocess.run([self.binary, "client", "add", "--name", "Bench", "--redirect-uri", REDIRECT_URI,
                              "--signing-alg", "RS256"], env=self.env, check=True, capture_output=True).stdout
        self.client = json.loads(out)
        self.authorization = basic(self.client["client_id"], self.client["client_secret"])
        self.proc, self.facts["restart_ms"] = start(self.name, [self.binary, "serve"], self.env, self.port,
                                                    self.discovery, self.log)
        self.browser = token_load.sign_in(HOST, self.port, os.path.join(self.data, "outbox"))

    def grants(self, count):
        self.browser.conn.close()  # a fresh connection: Gatehouse closes idle keep-alive ones
        client = dict(self.client, signing_alg="RS256")
        return [self.exchange(token_load.authorize(self.browser, client)) for _ in range(count)]


class OidcProvider(Server):
    name = "oidc-provider"
    durable = "no: in-memory adapter (tokens are lost on restart)"
    kept = "in memory (LRU of 1,000 entries)"
    discovery = "/.well-known/openid-configuration"
    jwks = "/jwks"
    token = "/token"
    userinfo = "/me"
    introspection = "/token/introspection"

    def __init__(self, work, key):
        super().__init__(work)
        self.client_id, self.secret = "bench", secrets.token_urlsafe(32)
        self.authorization = basic(self.client_id, self.secret)
        self.config = os.path.join(self.work, "config.json")
        with open(self.config, "w") as f:
            json.dump({"port": self.port, "client_id": self.client_id, "client_secret": self.secret,
                       "redirect_uri": REDIRECT_URI, "private_jwk": key["jwk"],
                       "cookie_key": secrets.token_urlsafe(32)}, f)

    def launch(self):
        with open(os.path.join(HERE, "node_modules", "oidc-provider", "package.json")) as f:
            self.facts["version"] = "oidc-provider " + json.load(f)["version"]
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        self.facts["version"] += f" on Node {node}"
        env = dict(os.environ, NODE_ENV="production")
        self.first_starts(["node", os.path.join(HERE, "oidc-provider.mjs"), self.config], env)

    def code(self):
        """The code flow through the development login and consent forms (any account id), in
        a fresh browser each time: each code then comes with its own session and its own grant
        (in one session, the development consent form adds to one grant for all the codes)."""
        self.browser = Http(self.port)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        query = urllib.parse.urlencode({
            "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT_URI,
            "scope": "openid email offline_access", "prompt": "consent", "state": "x", "nonce": "y",
            "code_challenge": challenge, "code_challenge_method": "S256"}, quote_via=urllib.parse.quote)
        status, headers, text = self.browser.request("GET", f"/auth?{query}")
        for _ in range(12):
            location = headers.get("location", "")
            if status in (302, 303) and location.startswith(REDIRECT_URI):
                params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                if "code" in params:
                    return params["code"][0], verifier
                break
            if status in (302, 303):
                path = urllib.parse.urlsplit(location)
                status, headers, text = self.browser.request("GET", path.path + (f"?{path.query}" if path.query else ""))
                continue
            prompt = re.search(r'name="prompt"\s+value="(\w+)"', text)
            action = re.search(r'action="([^"]+)"', text)
            if status != 200 or not prompt or not action:
                break
            fields = {"prompt": prompt.group(1)}
            if prompt.group(1) == "login":
                fields.update(login=USER[0], password=USER[1])
            status, headers, text = self.browser.request("POST", urllib.parse.urlsplit(action.group(1)).path, form=fields)
        problem(self.name, "authorization-code flow", f"{status} {headers.get('location')} {text}")
        return None, None

    def grants(self, count):
        out = []
        for _ in range(count):
            code, verifier = self.code()
            out.append(self.exchange(code, {"code_verifier": verifier}) if code else None)
        return out


class Glewlwyd(Server):
    name = "glewlwyd"
    durable = "SQLite (its defaults: rollback journal, synchronous=FULL)"
    kept = "on disk (SQLite, its defaults)"
    prefix = "/api/oidc"
    discovery = prefix + "/.well-known/openid-configuration"
    jwks = prefix + "/jwks"
    token = prefix + "/token"
    userinfo = prefix + "/userinfo"
    introspection = prefix + "/introspect"

    def __init__(self, work, key):
        super().__init__(work)
        self.client_id, self.secret = "bench", secrets.token_urlsafe(32)
        self.authorization = basic(self.client_id, self.secret)
        self.db = os.path.join(self.work, "glewlwyd.db")
        self.config = os.path.join(self.work, "glewlwyd.conf")
        with gzip.open(GLEWLWYD_SQL, "rt") as f:
            schema = f.read()
        db = sqlite3.connect(self.db)
        db.executescript(schema)
        db.execute("INSERT INTO g_plugin_module_instance (gpmi_module, gpmi_name, gpmi_display_name, "
                   "gpmi_parameters, gpmi_enabled) VALUES ('oidc', 'oidc', 'OpenID Connect', ?, 1)",
                   (json.dumps(self.plugin_parameters(key)),))
        iterations = os.environ.get("PEERS_GLEWLWYD_PBKDF2_ITERATIONS")
        if iterations:
            # Not the default: only to see what the client-secret hashing costs (README.md).
            (row,) = db.execute("SELECT gcmi_parameters FROM g_client_module_instance WHERE gcmi_name = 'database'")
            parameters = dict(json.loads(row[0]), **{"pbkdf2-iterations": int(iterations)})
            db.execute("UPDATE g_client_module_instance SET gcmi_parameters = ? WHERE gcmi_name = 'database'",
                       (json.dumps(parameters),))
            self.facts["pbkdf2_iterations"] = int(iterations)
        db.commit()
        db.close()
        with open(self.config, "w") as f:
            f.write(self.config_text())

    def plugin_parameters(self, key):
        """The OIDC plugin as the benchmark needs it: code and refresh grants, RS256 with the
        benchmark's key, one-time refresh tokens (every refresh rotates, a replay ends the
        chain), and introspection: off by default ("introspection-revocation-allowed"), on
        here, for the client's own tokens with its Basic credentials (the client needs the
        client_credentials authorization type for that)."""
        return {
            "iss": f"http://{HOST}:{self.port}{self.prefix}",
            "jwt-type": "rsa", "jwt-key-size": "256", "key": key["pkcs1_pem"], "cert": key["spki_pem"],
            "jwks-uri": "", "jwks-private": "", "default-kid": "", "client-sign_kid-parameter": "",
            "jwks-public": "", "jwks-public-uri": "", "jwks-show": True, "jwks-x5c": [],
            "access-token-duration": 3600, "refresh-token-duration": 1209600, "code-duration": 600,
            "refresh-token-rolling": True, "refresh-token-one-use": "always",
            "client-refresh-token-one-use-parameter": "refresh-token-one-use",
            "allow-non-oidc": False, "auth-type-code-enabled": True, "auth-type-code-revoke-replayed": True,
            "auth-type-token-enabled": False, "auth-type-id-token-enabled": False, "auth-type-none-enabled": False,
            "auth-type-password-enabled": False, "auth-type-client-enabled": True, "auth-type-device-enabled": False,
            "auth-type-refresh-enabled": True,
            "scope": [], "additional-parameters": [], "claims": [],
            "service-documentation": "", "op-policy-uri": "", "op-tos-uri": "",
            "request-parameter-allow": False, "request-uri-allow-https-non-secure": False,
            "secret-type": "public",
            "address-claim": {"type": "no", "formatted": "", "street_address": "", "locality": "", "region": "",
                              "postal_code": "", "country": "", "mandatory": False},
            "name-claim": "no", "name-claim-scope": [], "email-claim": "mandatory", "email-claim-scope": [],
            "scope-claim": "no", "scope-claim-scope": [],
            "allowed-scope": ["openid"], "pkce-allowed": False, "pkce-method-plain-allowed": False,
            "introspection-revocation-allowed": True, "introspection-revocation-auth-scope": [],
            "introspection-revocation-allow-target-client": True,
            "register-client-allowed": False, "register-client-auth-scope": [],
            "register-client-credentials-scope": [], "register-client-management-allowed": False,
            "register-resource-specify-allowed": False, "register-resource-default": [],
            "session-management-allowed": False,
            "client-pubkey-parameter": "", "client-jwks-parameter": "jwks", "client-jwks_uri-parameter": "jwks_uri",
            "request-maximum-exp": 3600, "encrypt-out-token-allow": False,
            "device-authorization-expiration": 600, "device-authorization-interval": 5,
            "client-cert-header-name": "SSL_CLIENT_CERT", "client-cert-use-endpoint-aliases": False,
            "client-cert-self-signed-allowed": False, "oauth-dpop-allowed": False, "oauth-dpop-iat-duration": 10,
            "resource-allowed": False, "resource-scope": {}, "resource-client-property": "",
            "resource-scope-and-client-property": False, "resource-change-allowed": False,
            "oauth-rar-allowed": False, "rar-types-client-property": "authorization_data_types",
            "rar-allow-auth-unsigned": False, "rar-allow-auth-unencrypted": True, "rar-types": {},
            "oauth-par-allowed": False, "oauth-par-duration": 90, "oauth-par-required": False,
            "oauth-par-request_uri-prefix": "urn:ietf:params:oauth:request_uri:",
            "prompt-continue-client-property": "", "restrict-scope-client-property": "",
        }

    def config_text(self):
        mime = "".join(f'  {{ extension = "{e}"\n    mime_type = "{m}" }},\n' for e, m in (
            (".html", "text/html"), (".css", "text/css"), (".js", "application/javascript"),
            (".json", "application/json"), (".png", "image/png")))
        return f"""# Written by bench/peers/run.py for one benchmark run.
port={self.port}
bind_address="{HOST}"
external_url="http://{HOST}:{self.port}"
login_url="login.html"
api_prefix="api"
allow_origin="*"
allow_methods="GET, POST, PUT, DELETE, OPTIONS"
allow_headers="Origin, X-Requested-With, Content-Type, Accept, Bearer, Authorization, DPoP"
expose_headers="Content-Encoding, Authorization"
log_mode="console"
log_level="ERROR"
cookie_secure=0
cookie_same_site="empty"
session_expiration=2419200
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
plugin_api_run_enabled=""
add_x_frame_option_header_deny=true
max_post_size=16778240
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
use_secure_connection=false
secure_connection_key_file="/dev/null"
secure_connection_pem_file="/dev/null"
secure_connection_ca_file="/dev/null"
hash_algorithm = "SHA512"
static_files_mime_types =
(
{mime.rstrip().rstrip(',')}
)
database =
{{
  type = "sqlite3"
  path = "{self.db}"
}};
"""

    def launch(self):
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "glewlwyd"], capture_output=True, text=True)
        self.facts["version"] = f"glewlwyd {version.stdout.strip() or '?'} (Debian)"
        self.first_starts(["glewlwyd", "--config-file", self.config], os.environ)
        admin = Http(self.port)
        self.expect(admin.request("POST", "/api/auth/", json_body={"username": GLEWLWYD_ADMIN[0],
                                                                     "password": GLEWLWYD_ADMIN[1]}), "admin sign-in")
        self.expect(admin.request("POST", "/api/user/", json_body={
            "username": USER[0], "password": USER[1], "name": "Bench", "email": token_load.EMAIL,
            "enabled": True, "scope": ["g_profile", "openid"]}), "add user")
        self.expect(admin.request("POST", "/api/client/", json_body={
            "client_id": self.client_id, "name": "Bench", "description": "", "confidential": True,
            "password": self.secret, "enabled": True, "redirect_uri": [REDIRECT_URI],
            "authorization_type": ["code", "refresh_token", "client_credentials"],
            "token_endpoint_auth_method": ["client_secret_basic"], "scope": ["openid"]}), "add client")
        self.browser = Http(self.port)
        self.expect(self.browser.request("POST", "/api/auth/", json_body={"username": USER[0], "password": USER[1]}),
                    "user sign-in")
        self.expect(self.browser.request("PUT", f"/api/auth/grant/{self.client_id}", json_body={"scope": "openid"}),
                    "grant the client")

    def expect(self, answer, what):
        status, _, text = answer
        if status != 200:
            raise SystemExit(f"glewlwyd: {what} answered {status}: {text[:300]}")

    def grants(self, count):
        out = []
        for _ in range(count):
            query = urllib.parse.urlencode({
                "response_type": "code", "client_id": self.client_id, "redirect_uri": REDIRECT_URI,
                "scope": "openid", "state": "x", "nonce": secrets.token_urlsafe(8),
                # what Glewlwyd's own login page adds when it sends the browser back
                "g_continue": ""}, quote_via=urllib.parse.quote)
            status, headers, text = self.browser.request("GET", f"{self.prefix}/auth?{query}")
            location = headers.get("location", "")
            params = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
            if status != 302 or not location.startswith(REDIRECT_URI) or "code" not in params:
                problem(self.name, "authorization-code flow", f"{status} {location} {text}")
                out.append(None)
                continue
            out.append(self.exchange(params["code"][0]))
        return out


def wrk(server, row, duration, env, script, path, warmup):
    """Runs wrk once (after a warm-up run of the same request when asked); returns its PEERS line."""
    url = f"http://{HOST}:{server.port}{path}"
    base = ["wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "--timeout", "5s", "-s", script]
    run_env = dict(os.environ, **env)
    if warmup:
        subprocess.run(base + ["-d", f"{WARMUP_S}s", url], env=run_env, capture_output=True, timeout=WARMUP_S + 30)
    cpu_before = token_load.cpu_seconds(server.proc.pid)
    load = subprocess.Popen(base + ["-d", f"{duration}s", url], env=run_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    time.sleep(duration / 2)
    # how many threads compete for the cores mid-run (a busy machine shares CPU per thread)
    threads = token_load.rss_kib(server.proc.pid, "Threads")
    try:
        stdout, stderr = load.communicate(timeout=duration + 30)
    except subprocess.TimeoutExpired:
        load.kill()
        stdout, stderr = load.communicate()
    out = subprocess.CompletedProcess(load.args, load.returncode, stdout, stderr)
    cpu = token_load.cpu_seconds(server.proc.pid) - cpu_before
    line = next((l for l in out.stdout.splitlines() if l.startswith("PEERS ")), None)
    if out.returncode != 0 or line is None:
        problem(server.name, f"wrk {row} failed", out.stdout[-300:] + out.stderr[-300:])
        return None
    result = json.loads(line[len("PEERS "):])
    seconds = result["duration_us"] / 1e6
    good = result["checked"] if row in ("userinfo", "introspection", "refresh") else \
        result["requests"] - result["status_errors"]
    bad = {k: result[k] for k in ("status_errors", "connect_errors", "read_errors", "write_errors", "timeouts",
                                  "unexpected", "lost", "starved") if result.get(k)}
    if bad:
        bad["first_wrong"] = result.get("first_wrong") or ""
        problem(server.name, f"{row}: answers that were not right", json.dumps(bad))
    return {"per_s": round(good / seconds, 1), "requests": result["requests"], "seconds": round(seconds, 2),
            "server_cpu_ms_per_answer": round(1000 * cpu / max(result["requests"], 1), 3),
            "server_threads": threads,
            "p50_ms": round(result["p50_us"] / 1000, 2), "p99_ms": round(result["p99_us"] / 1000, 2),
            **({"errors": bad} if bad else {})}


def drive(server, row, duration, round_index):
    fixed, refresh = os.path.join(HERE, "fixed.lua"), os.path.join(HERE, "refresh.lua")
    warmup = round_index == 0
    if row == "discovery":
        return wrk(server, row, duration, {}, fixed, server.discovery, warmup)
    if row == "jwks":
        return wrk(server, row, duration, {}, fixed, server.jwks, warmup)
    if row == "userinfo":
        return wrk(server, row, duration, {"PEERS_AUTHORIZATION": f"Bearer {server.access_token}",
                                           "PEERS_EXPECT": '"sub"'}, fixed, server.userinfo, warmup)
    if row == "introspection":
        return wrk(server, row, duration, {
            "PEERS_METHOD": "POST", "PEERS_BODY": "token=" + urllib.parse.quote(server.access_token, safe=""),
            "PEERS_CONTENT_TYPE": "application/x-www-form-urlencoded", "PEERS_AUTHORIZATION": server.authorization,
            "PEERS_EXPECT": '"active":true'}, fixed, server.introspection, warmup)
    # Fresh grants for every refresh run, made just before it: a run ends with tokens in
    # flight, and oidc-provider's in-memory adapter is an LRU of 1000 entries that forgets
    # grants left idle while others work. One spare grant per wrk thread: wrk calls request()
    # once in its first thread to check the script and never sends it (see refresh.lua).
    tokens = [t["refresh_token"] for t in server.fresh_grants(WRK_CONNECTIONS + WRK_THREADS)]
    seeds = os.path.join(server.work, f"seeds-{round_index}.txt")
    with open(seeds, "w") as f:
        f.write("\n".join(tokens) + "\n")
    return wrk(server, row, duration, {"PEERS_PATH": server.token, "PEERS_AUTHORIZATION": server.authorization,
                                       "PEERS_SEEDS": seeds,
                                       "PEERS_PER_THREAD": str(len(tokens) // WRK_THREADS)},
               refresh, server.token, False)


def combine(runs):
    """The rounds of one row on one server: the median rate, the worst p99, every rate."""
    done = [r for r in runs if r]
    if not done:
        return None
    out = {"per_s": round(statistics.median(r["per_s"] for r in done), 1),
           "per_s_each": [r["per_s"] for r in done],
           "p50_ms": round(statistics.median(r["p50_ms"] for r in done), 2),
           "p99_ms": max(r["p99_ms"] for r in done),
           "server_cpu_ms_per_answer": round(statistics.median(r["server_cpu_ms_per_answer"] for r in done), 3),
           "server_threads": max(r["server_threads"] for r in done),
           "requests": sum(r["requests"] for r in done),
           "seconds": round(sum(r["seconds"] for r in done), 2)}
    errors = [r["errors"] for r in done if "errors" in r]
    if errors or len(done) < len(runs):
        out["errors"] = errors + [{"failed_runs": len(runs) - len(done)}] * (len(done) < len(runs))
    return out


def fmt(value, unit=""):
    if value is None:
        return "n/a"
    return f"{value:,.0f}{unit}" if value >= 100 else f"{value:,.1f}{unit}"


def table(report, names):
    header = "| row | " + " | ".join(names) + " | Gatehouse ahead of both |"
    lines = [header, "|" + " --- |" * (len(names) + 2)]
    labels = {"discovery": "discovery (req/s)", "jwks": "JWKS (req/s)", "refresh": "token refresh (req/s)",
              "userinfo": "userinfo (req/s)", "introspection": "introspection (req/s)",
              "idle_rss_mib": "idle memory (MiB, lower is better)", "start_ms": "start to first 200 (ms, lower is better)"}
    for key in ("discovery", "jwks", "refresh", "userinfo", "introspection", "idle_rss_mib", "start_ms"):
        values = report["table"][key]
        base = values.get("gatehouse")
        cells, ahead = [], None if base is None else True
        for name in names:
            value = values.get(name)
            cell = fmt(value)
            if name != "gatehouse" and value is not None and base:
                ratio = value / base
                cell += f" ({ratio:.2f}×)" if ratio >= 0.1 else f" ({ratio:.3f}×)"
                better = base > value if key not in ("idle_rss_mib", "start_ms") else base < value
                ahead = ahead and better
            cells.append(cell)
        lines.append(f"| {labels[key]} | " + " | ".join(cells) + f" | {'n/a' if ahead is None else ('yes' if ahead else 'no')} |")
    lines.append("| tokens kept | " + " | ".join(report["servers"][n]["kept"] for n in names) + " | |")
    lines += ["", "Server CPU per answer (ms, from /proc; lower is better):", "",
              "| row | " + " | ".join(names) + " | Gatehouse lowest |", "|" + " --- |" * (len(names) + 2)]
    for row in ROWS:
        cells, cpu = [], {}
        for name in names:
            result = report["rows"][row].get(name)
            if result:
                cpu[name] = result["server_cpu_ms_per_answer"]
            cells.append(f"{cpu[name]:.3f}" if name in cpu else "n/a")
        lowest = "n/a" if "gatehouse" not in cpu or len(cpu) < 2 else \
            ("yes" if all(cpu["gatehouse"] < v for n, v in cpu.items() if n != "gatehouse") else "no")
        lines.append(f"| {labels[row].replace(' (req/s)', '')} | " + " | ".join(cells) + f" | {lowest} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gatehouse", help="path to the gatehouse binary (a release build)")
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per round, row and server")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per row (the median is reported)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS))
    args = parser.parse_args()
    names = [n for n in SERVERS if n in args.servers.split(",")]
    work = tempfile.mkdtemp(prefix="gatehouse-peers-", dir=os.environ.get("PEERS_WORK_DIR", "/var/tmp"))
    servers = []
    load_at_start = os.getloadavg()
    try:
        key = json.loads(subprocess.run(["node", os.path.join(HERE, "keygen.mjs")], check=True, capture_output=True,
                                        text=True).stdout)
        kinds = {"gatehouse": lambda: Gatehouse(work, args.gatehouse), "oidc-provider": lambda: OidcProvider(work, key),
                 "glewlwyd": lambda: Glewlwyd(work, key)}
        for name in names:  # one after the other, so that no start competes with another
            server = kinds[name]()
            servers.append(server)
            server.launch()
        for server in servers:
            server.access_token = server.fresh_grants(1)[0]["access_token"]
            server.check_rows()
        rows = {row: {} for row in ROWS}
        for row in ROWS:
            # A row on every server before the next row, in rounds whose order rotates, so
            # that load from elsewhere on the machine falls on all of them alike.
            runs = {server.name: [] for server in servers}
            for round_index in range(args.rounds):
                shift = round_index % len(servers)
                for server in servers[shift:] + servers[:shift]:
                    runs[server.name].append(drive(server, row, args.duration, round_index))
            for server in servers:
                rows[row][server.name] = combine(runs[server.name])
        for server in servers:
            server.facts["rss_after_load_mib"] = rss_mib(server.proc.pid)
            server.facts["threads_under_load"] = max(rows[row][server.name]["server_threads"]
                                                     for row in ROWS if rows[row].get(server.name))
            # last: a replay may end more than its own grant (a session's, an account's)
            try:
                server.facts["rotation"] = server.check_rotation()
            except (OSError, http.client.HTTPException, SystemExit) as error:
                problem(server.name, "rotation check", repr(error))
        report = {
            "machine": {"cores": os.cpu_count(), "data_on": token_load.filesystem_of(work),
                        "load_average_at_start": load_at_start,
                        "load_average_at_end": os.getloadavg(),
                        "wrk": f"{WRK_THREADS} threads, {WRK_CONNECTIONS} connections, {args.rounds} rounds of "
                               f"{args.duration} s per row and server (median)"},
            "servers": {s.name: dict(s.facts, durable=s.durable, kept=s.kept) for s in servers},
            "rows": rows,
            "table": {row: {n: (r or {}).get("per_s") for n, r in rows[row].items()} for row in ROWS},
            "problems": problems,
        }
        report["table"]["idle_rss_mib"] = {s.name: s.facts.get("idle_rss_mib") for s in servers}
        report["table"]["start_ms"] = {s.name: s.facts.get("start_ms") for s in servers}
        report["peer_over_gatehouse"] = {
            key: {n: round(v / values["gatehouse"], 3) for n, v in values.items()
                  if n != "gatehouse" and v is not None}
            for key, values in report["table"].items() if values.get("gatehouse")}
        print(json.dumps(report, indent=2))
        print()
        print(table(report, names))
    finally:
        for server in servers:
            stop(server.proc)
            server.log.close()
        if os.environ.get("PEERS_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
