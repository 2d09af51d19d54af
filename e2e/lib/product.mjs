// A small product (an OpenID Connect relying party) that signs people in through Gatehouse with
// openid-client, a client library Gatehouse did not write (DESIGN.md §6): discovery, an
// authorization request with PKCE (S256), state and nonce, the code grant with
// client_secret_basic, and the library's own checks of the response and the ID token (iss, aud,
// azp, nonce, exp, iat, signature against the JWKS). Its pages:
//
//   /            "Test product" with the link "Sign in with Gatehouse" (to /login)
//   /login       redirects to Gatehouse's authorization endpoint; ?prompt, ?max_age, ?login_hint
//                and ?scope are passed on
//   /callback    completes the grant and shows "Signed in as EMAIL", or "Sign-in failed" with
//                the error; either way the outcome is kept in `signIns` for the test to inspect
//   /signed-out  the post-logout redirect URI: "You are signed out", the `state` kept in
//                `signOuts`
//
// It listens on 127.0.0.1 but calls itself http://localhost:PORT: cookies are not kept apart
// by port and SameSite compares sites, so 127.0.0.1:A and 127.0.0.1:B would be one site and a
// session cookie that a real (cross-site) product could never carry would pass unnoticed. Under
// `localhost` the product is another site, as it is in production.

import http from 'node:http';
import * as client from 'openid-client';

export const SCOPE = 'openid email offline_access';

const escapeHtml = (text) =>
  String(text).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

export class Product {
  /** Every sign-in that came back to /callback: { state, nonce, params, query, tokens?, claims?, error? }. */
  signIns = [];
  /** Every visit to /signed-out: { state, query }. */
  signOuts = [];
  /** Every request the product received, as "METHOD /path?query". */
  requests = [];
  /** The openid-client Configuration, once connect() has run. */
  config = undefined;

  #pending = new Map();
  #server = undefined;

  constructor({ name = 'Test product', host = 'localhost' } = {}) {
    this.name = name;
    this.host = host;
  }

  async start() {
    this.#server = http.createServer((req, res) => {
      this.requests.push(`${req.method} ${req.url}`);
      this.#handle(req, res).catch((error) => {
        if (!res.headersSent) this.#page(res, 500, 'Error', `<p>${escapeHtml(error.stack ?? error)}</p>`);
      });
    });
    await new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', resolve);
    });
    this.url = `http://${this.host}:${this.#server.address().port}`;
    this.origin = new URL(this.url).origin;
  }

  get redirectUri() {
    return `${this.url}/callback`;
  }

  get postLogoutRedirectUri() {
    return `${this.url}/signed-out`;
  }

  /** What `gatehouse client add` needs (addClient in lib/server.mjs). */
  registration(extra = {}) {
    return {
      name: this.name,
      redirectUris: [this.redirectUri],
      postLogoutRedirectUris: [this.postLogoutRedirectUri],
      ...extra,
    };
  }

  /**
   * Discovers Gatehouse at `issuer` and keeps the client `gatehouse client add` printed
   * ({ client_id, client_secret }), authenticating with client_secret_basic and expecting ID
   * tokens signed with RS256 (the contract's default).
   */
  async connect({ issuer, client: registered }) {
    this.issuer = issuer;
    this.clientId = registered.client_id;
    this.config = await client.discovery(
      new URL(issuer),
      registered.client_id,
      { client_secret: registered.client_secret, id_token_signed_response_alg: 'RS256' },
      client.ClientSecretBasic(registered.client_secret),
      // openid-client refuses http:// endpoints unless told otherwise. Gatehouse listens on
      // plain HTTP on loopback in these tests only; a real product talks to it over https://.
      { execute: [client.allowInsecureRequests] },
    );
    return this.config;
  }

  /** The last sign-in that came back; with `ok`, throws unless it ended with tokens. */
  lastSignIn({ ok = false } = {}) {
    const last = this.signIns.at(-1);
    if (ok) {
      if (!last) throw new Error(`${this.name} was never called back; requests: ${this.requests.join(', ')}`);
      if (last.error) {
        const { error } = last;
        const detail = error.error ? `${error.error}: ${error.error_description ?? ''}` : '';
        throw new Error(`${this.name} could not complete the sign-in: ${error.name}: ${error.message} ${detail}`, {
          cause: error,
        });
      }
    }
    return last;
  }

  async stop() {
    if (!this.#server) return;
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  async #handle(req, res) {
    const url = new URL(req.url, this.url);
    if (req.method !== 'GET') return this.#page(res, 405, 'Not allowed', '<p>Only GET here.</p>');
    switch (url.pathname) {
      case '/':
        return this.#page(res, 200, this.name, '<p><a href="/login">Sign in with Gatehouse</a></p>');
      case '/login':
        return this.#login(url, res);
      case '/callback':
        return this.#callback(url, res);
      case '/signed-out':
        this.signOuts.push({ state: url.searchParams.get('state'), query: Object.fromEntries(url.searchParams) });
        return this.#page(res, 200, 'Signed out', `<p>You are signed out of ${escapeHtml(this.name)}.</p>`);
      default:
        return this.#page(res, 404, 'Not found', '<p>Nothing here.</p>');
    }
  }

  async #login(url, res) {
    if (!this.config) throw new Error('the product is not connected to Gatehouse yet');
    const codeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const params = {
      redirect_uri: this.redirectUri,
      scope: SCOPE,
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    for (const key of ['prompt', 'max_age', 'login_hint', 'scope']) {
      if (url.searchParams.has(key)) params[key] = url.searchParams.get(key);
    }
    this.#pending.set(state, { codeVerifier, nonce, params });
    const location = client.buildAuthorizationUrl(this.config, params);
    res.writeHead(302, { location: location.href, 'cache-control': 'no-store' });
    res.end();
  }

  async #callback(url, res) {
    const state = url.searchParams.get('state');
    const pending = this.#pending.get(state);
    const record = {
      state,
      nonce: pending?.nonce,
      params: pending?.params,
      query: Object.fromEntries(url.searchParams),
    };
    this.signIns.push(record);
    if (!pending) {
      record.error = new Error(`the callback's state ${JSON.stringify(state)} matches no sign-in this product started`);
      return this.#failed(res, record.error);
    }
    this.#pending.delete(state);
    try {
      // Checks iss (the response advertises authorization_response_iss_parameter_supported),
      // state, then the token response and the ID token, nonce included.
      record.tokens = await client.authorizationCodeGrant(this.config, url, {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      record.claims = record.tokens.claims();
    } catch (error) {
      record.error = error;
      return this.#failed(res, error);
    }
    const email = record.claims.email ?? '(no email claim)';
    return this.#page(res, 200, this.name, `<p>Signed in as <strong id="email">${escapeHtml(email)}</strong></p>`);
  }

  #failed(res, error) {
    const code = error.error ?? error.code ?? error.name;
    const description = error.error_description ?? error.message;
    return this.#page(
      res,
      400,
      'Sign-in failed',
      `<p>Sign-in failed: <code id="error">${escapeHtml(code)}</code></p><p>${escapeHtml(description)}</p>`,
    );
  }

  #page(res, status, title, body) {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body><main><h1>${escapeHtml(this.name)}</h1>${body}</main></body></html>`,
    );
  }
}
