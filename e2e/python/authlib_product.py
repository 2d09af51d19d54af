"""A product in another language that Gatehouse did not write: a Flask app signing people in
with Authlib's Flask client, configured exactly as docs/connecting-a-product.md shows.

Run by e2e/tests/authlib.test.mjs, which owns Gatehouse, the mail and the browser. The app is
driven with Flask's test client (no port of its own); only the browser's part of the code flow
goes through the test, over stdin and stdout, one JSON object a line:

  out {"authorize": URL}      the authorization request authorize_redirect() made
  in  CALLBACK_URL            where Gatehouse sent the browser back (the test caught it)
  out {"ok": true, ...}       what the product learned, for the test to compare

Everything else is Authlib's own doing and is checked here: discovery (server_metadata_url),
the code flow with PKCE S256, state and nonce (authorize_redirect, authorize_access_token),
the ID token's signature against the JWKS and its claims (parse_id_token: iss, aud, azp, exp,
iat, nonce, at_hash), userinfo, and a refresh that Authlib starts by itself when the access
token has expired (update_token). Then what a thief would meet: a forged ID token and a wrong
nonce are refused by Authlib, and the refresh token already used is refused by Gatehouse, which
then ends the whole grant (S44). Any failure ends the script with a traceback and exit code 1.

Environment: GATEHOUSE_ISSUER, GATEHOUSE_CLIENT_ID, GATEHOUSE_CLIENT_SECRET, REDIRECT_URI.
"""

import base64
import json
import os
import sys
import time
from urllib.parse import urlsplit

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, jsonify, session

ISSUER = os.environ["GATEHOUSE_ISSUER"]
REDIRECT_URI = os.environ["REDIRECT_URI"]
SCOPE = "openid email offline_access"


def say(message):
    print(json.dumps(message), flush=True)


def expect(condition, what):
    if not condition:
        raise AssertionError(what)


def refused(step):
    """Runs step(); returns the exception it raised, or fails if it raised none."""
    try:
        step()
    except Exception as error:  # noqa: BLE001 -- any refusal will do; it is reported
        return f"{type(error).__name__}: {error}"
    raise AssertionError(f"{step.__doc__ or step} was accepted")


updates = []
tokens = {}


def update_token(name, token, refresh_token=None, access_token=None):
    """Authlib calls this after it refreshed a token by itself: the product stores it."""
    updates.append({"name": name, "token": dict(token), "refresh_token": refresh_token})
    tokens["current"] = dict(token)


app = Flask(__name__)
app.secret_key = os.urandom(32)
oauth = OAuth(app, update_token=update_token)
# As in docs/connecting-a-product.md, "Python, Authlib (Flask)".
oauth.register(
    name="gatehouse",
    server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
    client_id=os.environ["GATEHOUSE_CLIENT_ID"],
    client_secret=os.environ["GATEHOUSE_CLIENT_SECRET"],
    client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"},
)


@app.route("/login")
def login():
    return oauth.gatehouse.authorize_redirect(REDIRECT_URI)


@app.route("/callback")
def callback():
    # Checks state, sends the code with the PKCE verifier (client_secret_basic), and validates
    # the ID token (signature against the JWKS, iss, aud, nonce...) into token["userinfo"].
    token = oauth.gatehouse.authorize_access_token()
    tokens["first"] = token
    tokens["current"] = dict(token)
    session["sub"] = token["userinfo"]["sub"]
    return jsonify(dict(token["userinfo"]))


@app.route("/profile")
def profile():
    # Refreshes first, by itself, if the stored access token has expired (then update_token).
    return jsonify(dict(oauth.gatehouse.userinfo(token=tokens["current"])))


def main():
    metadata = oauth.gatehouse.load_server_metadata()
    expect(metadata["issuer"] == ISSUER, f"discovery: issuer {metadata['issuer']!r} is not {ISSUER!r}")
    expect("S256" in metadata.get("code_challenge_methods_supported", []), "discovery: S256 PKCE")
    expect(metadata.get("jwks_uri"), "discovery: jwks_uri")

    browser = app.test_client()
    started = browser.get("/login")
    expect(started.status_code == 302, f"/login answered {started.status_code}")
    authorize = started.headers["Location"]
    query = dict(p.split("=", 1) for p in urlsplit(authorize).query.split("&"))
    expect(query.get("code_challenge_method") == "S256" and query.get("code_challenge"), "PKCE S256 sent")
    expect(query.get("nonce") and query.get("state"), "state and nonce sent")
    say({"authorize": authorize})

    back = urlsplit(sys.stdin.readline().strip())
    expect(f"{back.scheme}://{back.netloc}{back.path}" == REDIRECT_URI, f"came back to {back.geturl()}")
    answered = browser.get(f"/callback?{back.query}")
    expect(answered.status_code == 200, f"/callback answered {answered.status_code}: {answered.get_data(as_text=True)}")
    token = tokens["first"]
    claims = dict(token["userinfo"])
    expect(token.get("refresh_token"), "a refresh token with offline_access")

    # userinfo with the access token.
    userinfo = browser.get("/profile").get_json()
    expect(userinfo.get("sub") == claims["sub"], "userinfo: the ID token's sub")
    expect(not updates, "no refresh while the access token is fresh")

    # Authlib refreshes by itself when the access token has expired, and hands the product the
    # new tokens through update_token; the refreshed ID token validates too (no nonce in it).
    tokens["current"]["expires_at"] = int(time.time()) - 60
    userinfo_after_refresh = browser.get("/profile").get_json()
    expect(len(updates) == 1, f"update_token called {len(updates)} times")
    refreshed = updates[0]["token"]
    expect(refreshed["refresh_token"] != token["refresh_token"], "the refresh token rotates")
    expect(refreshed["access_token"] != token["access_token"], "a new access token")
    expect(userinfo_after_refresh.get("sub") == claims["sub"], "userinfo after the refresh")
    refreshed_claims = dict(oauth.gatehouse.parse_id_token(refreshed, nonce=None))
    expect(refreshed_claims["sub"] == claims["sub"], "the refreshed ID token's sub")
    expect(refreshed_claims.get("auth_time") == claims.get("auth_time"), "refreshing is not signing in")

    # What a thief meets. A forged ID token (its signature's first character changed) and a
    # nonce from another request are refused by Authlib's own checks.
    head, body, signature = token["id_token"].split(".")
    forged = f"{head}.{body}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"

    def forged_signature():
        """a forged ID token"""
        oauth.gatehouse.parse_id_token(dict(token, id_token=forged), nonce=claims["nonce"])

    def wrong_nonce():
        """an ID token for another request's nonce"""
        oauth.gatehouse.parse_id_token(token, nonce="another-request")

    refusals = {"forged_signature": refused(forged_signature), "wrong_nonce": refused(wrong_nonce)}

    # The used refresh token again: refused, and the grant ends (S44), so the access token
    # from the refresh stops working too.
    token_endpoint = metadata["token_endpoint"]
    reused = requests.post(
        token_endpoint,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(os.environ["GATEHOUSE_CLIENT_ID"], os.environ["GATEHOUSE_CLIENT_SECRET"]),
        timeout=10,
    )
    expect(reused.status_code == 400 and reused.json().get("error") == "invalid_grant", f"reuse: {reused.status_code} {reused.text}")
    after = requests.get(metadata["userinfo_endpoint"], headers={"Authorization": f"Bearer {refreshed['access_token']}"}, timeout=10)
    expect(after.status_code == 401, f"userinfo after the reuse answered {after.status_code}")
    refusals["reused_refresh_token"] = reused.json()["error"]

    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    say(
        {
            "ok": True,
            "alg": header["alg"],
            "claims": claims,
            "userinfo": userinfo,
            "refreshed_claims": refreshed_claims,
            "refusals": refusals,
        }
    )


if __name__ == "__main__":
    with app.app_context():
        main()
