// Issue item 4 (OpenID Connect), checked by a client library Gatehouse did not write: a small
// product (lib/product.mjs) built on openid-client, registered with `gatehouse client add`,
// signs a person in through the browser (password, e-mailed code, first backup code, "Returning
// you to Test product"), then uses the tokens as docs/oidc-contract.md says it may: the ID
// token's claims, userinfo, introspection, refresh with rotation (an old refresh token is
// refused, and presenting it ends the grant, S44), revocation, and RP-initiated logout with a
// confirmation in the browser. Requests Gatehouse cannot send back get its own error page (400,
// no redirect); the others go back to the product with `error`, `state` and `iss`.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from 'openid-client';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { Product, SCOPE } from '../lib/product.mjs';

const olive = { email: 'olive@example.com', password: 'harbour-lantern-thistle-27' };

const product = new Product({ name: 'Test product' });
const env = useGatehouse({ label: 'oidc-journey', accounts: [olive], products: [product] });

const sorted = (list) => [...list].sort();
const decodeJson = (base64url) => JSON.parse(Buffer.from(base64url, 'base64url').toString('utf8'));
/** A JWK's algorithm: its `alg`, or what its key type implies (`alg` is optional in a JWK). */
const algorithmOf = (key) =>
  key.alg ?? { RSA: 'RS256', EC: key.crv === 'P-256' ? 'ES256' : `EC ${key.crv}`, OKP: key.crv === 'Ed25519' ? 'EdDSA' : `OKP ${key.crv}` }[key.kty];

/** `shoot(name)` saves the page at both sizes; sideways scrolling is reported, not failed. */
function shooter(t, page) {
  return async (name) => {
    const overflow = await screenshotAtBothSizes(page, name);
    for (const [size, px] of Object.entries(overflow)) {
      if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
    }
  };
}

/** The promise must fail with the OAuth error `error` (a JSON error body, RFC 6749 §5.2). */
async function refused(promise, error, what) {
  await assert.rejects(
    promise,
    (err) => {
      assert.equal(err.error, error, `${what}: expected the error "${error}", got ${err.name}: ${err.message}`);
      assert.equal(err.status, 400, `${what}: the status`);
      return true;
    },
    `${what}: expected the error "${error}"`,
  );
}

/**
 * With Gatehouse's session still alive: the product's /login goes to Gatehouse and back with a
 * new code, and no sign-in page on the way. Returns that sign-in.
 */
async function signInAgainWithTheSession(page, { what }) {
  const gatehouse = new URL(env.server.baseUrl).origin;
  const visited = [];
  const remember = (frame) => {
    if (frame === page.mainFrame()) visited.push(frame.url());
  };
  const count = product.signIns.length;
  page.on('framenavigated', remember);
  try {
    await page.goto(`${product.url}/login`);
    await page.waitForURL((url) => url.origin === product.origin && url.pathname === '/callback', { waitUntil: 'load' });
  } finally {
    page.off('framenavigated', remember);
  }
  const signInPages = visited.filter((url) => new URL(url).origin === gatehouse && new URL(url).pathname.startsWith('/sign-in'));
  assert.deepEqual(signInPages, [], `${what}: with a live session Gatehouse sends the browser straight back`);
  assert.equal(product.signIns.length, count + 1, `${what}: the product was called back once`);
  return product.lastSignIn({ ok: true });
}

test('gatehouse client add prints the product, and discovery advertises what the contract says', () => {
  const [registered] = env.clients;
  assert.equal(registered.name, 'Test product');
  assert.equal(typeof registered.client_secret, 'string', 'a confidential client gets a secret');
  assert.ok(registered.client_secret.length > 0, 'the secret is not empty');
  assert.equal(registered.public, false);
  assert.equal(registered.third_party, false);
  assert.equal(registered.signing_alg, 'RS256', 'RS256 by default');
  assert.deepEqual(registered.redirect_uris, [product.redirectUri]);
  assert.deepEqual(registered.post_logout_redirect_uris, [product.postLogoutRedirectUri]);

  const issuer = env.server.baseUrl;
  const meta = product.config.serverMetadata();
  assert.equal(meta.issuer, issuer, 'the issuer is http://<listen address>, no trailing slash');
  for (const [field, path] of [
    ['jwks_uri', '/oauth2/jwks'],
    ['authorization_endpoint', '/oauth2/authorize'],
    ['token_endpoint', '/oauth2/token'],
    ['userinfo_endpoint', '/oauth2/userinfo'],
    ['revocation_endpoint', '/oauth2/revoke'],
    ['introspection_endpoint', '/oauth2/introspect'],
    ['end_session_endpoint', '/oauth2/logout'],
  ]) {
    assert.equal(meta[field], `${issuer}${path}`, field);
  }
  for (const [field, values] of Object.entries({
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256', 'ES256', 'EdDSA'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'email', 'profile', 'offline_access'],
    prompt_values_supported: ['none', 'login', 'consent'],
  })) {
    assert.deepEqual(sorted(meta[field] ?? []), sorted(values), field);
  }
  assert.ok(Array.isArray(meta.claims_supported), 'claims_supported');
  for (const claim of ['sub', 'email', 'email_verified']) assert.ok(meta.claims_supported.includes(claim), `claims_supported has ${claim}`);
  assert.equal(meta.authorization_response_iss_parameter_supported, true);
});

test('a product registered while Gatehouse runs is known at once', async () => {
  const later = await env.server.addClient({ name: 'Later product', redirectUris: ['http://127.0.0.1:9/callback'], public: true });
  assert.equal(later.public, true);
  assert.equal(later.client_secret, undefined, 'a public client gets no secret');
  const url = new URL(product.config.serverMetadata().authorization_endpoint);
  for (const [key, value] of Object.entries({
    response_type: 'code',
    client_id: later.client_id,
    redirect_uri: 'http://127.0.0.1:9/callback',
    scope: 'openid',
    state: 'later-state',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    code_challenge_method: 'S256',
    prompt: 'none',
  })) {
    url.searchParams.set(key, value);
  }
  // No session: prompt=none is answered at the product's redirect URI, not on an error page.
  const response = await fetch(url, { redirect: 'manual' });
  assert.ok([302, 303].includes(response.status), `a redirect, not ${response.status}`);
  const location = new URL(response.headers.get('location'));
  assert.equal(`${location.origin}${location.pathname}`, 'http://127.0.0.1:9/callback');
  assert.equal(location.searchParams.get('error'), 'login_required');
  assert.equal(location.searchParams.get('state'), 'later-state');
});

test('a product using openid-client signs in through Gatehouse, and its tokens refresh, revoke and sign out as the contract says', { timeout: 120_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const issuer = env.server.baseUrl;
    const clientId = product.clientId;
    const { config } = product;

    // The journey: the product sends the browser to Gatehouse (login_hint fills "Email"); the
    // password, the e-mailed code and the first backup code; "Returning you to Test product".
    await page.goto(`${product.url}/login?login_hint=${encodeURIComponent(olive.email)}`);
    await you.expectSignInPage('sign-in (for Test product)');
    assert.equal(await you.field('Email').inputValue(), olive.email, 'login_hint fills the "Email" field');
    await you.submitEmail(olive.email);
    const since = env.mail.mark();
    await you.submitPassword(olive.password);
    await you.expectCodePage(olive.email);
    const { code } = await env.mail.nextCode(olive.email, { since });
    await you.submitCode(code);
    await you.expectSaveBackupCodePage();
    await you.confirmBackupCodeSavedAndReturn(product);
    await you.expectTestProductSignedIn(product, olive.email);
    const first = product.lastSignIn({ ok: true });
    assert.equal(first.query.iss, issuer, 'the response carries iss');
    assert.equal(first.query.state, first.state, 'the response carries the state');

    // The token response and the ID token. openid-client already checked the signature, iss,
    // aud, azp, exp, iat and nonce; these are the contract's own promises.
    const { tokens } = first;
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.equal(tokens.expires_in, 900, 'access tokens live 15 minutes');
    assert.deepEqual(sorted(tokens.scope.split(' ')), sorted(SCOPE.split(' ')), 'the granted scope');
    assert.equal(typeof tokens.refresh_token, 'string', 'offline_access brings a refresh token');
    const header = decodeJson(tokens.id_token.split('.')[0]);
    assert.equal(header.alg, 'RS256');
    assert.equal(typeof header.kid, 'string', 'the ID token names its key');
    const jwks = await (await fetch(config.serverMetadata().jwks_uri)).json();
    assert.ok(jwks.keys.some((key) => key.kid === header.kid), 'the JWKS holds the signing key');
    assert.deepEqual(sorted(jwks.keys.map(algorithmOf)), ['ES256', 'EdDSA', 'RS256'], 'one key per algorithm');

    const claims = first.claims;
    assert.equal(claims.iss, issuer);
    assert.deepEqual([claims.aud].flat(), [clientId], 'aud is the client');
    assert.equal(claims.azp, clientId);
    assert.equal(claims.nonce, first.nonce);
    assert.equal(typeof claims.sub, 'string');
    assert.ok(claims.sub.length > 0, 'sub');
    assert.equal(claims.email, olive.email);
    assert.equal(typeof claims.email_verified, 'boolean', 'email_verified comes with the email scope');
    assert.deepEqual(sorted(claims.amr ?? []), ['email', 'mfa', 'pwd'], 'amr: the password and an e-mailed code that was entered');
    assert.equal(claims.acr, 'urn:gatehouse:acr:mfa');
    assert.equal(claims.exp - claims.iat, 900, 'ID tokens live 15 minutes');
    assert.equal(typeof claims.auth_time, 'number');
    assert.ok(claims.auth_time <= claims.iat && claims.iat - claims.auth_time < 300, 'auth_time is the sign-in just made');

    // Userinfo and introspection of the access token.
    const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    assert.equal(info.email, olive.email, 'userinfo: email');
    assert.equal(typeof info.email_verified, 'boolean', 'userinfo: email_verified');
    const introspected = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(introspected.active, true, 'a fresh access token is active');
    assert.equal(introspected.client_id, clientId);
    assert.equal(introspected.sub, claims.sub);
    assert.equal(introspected.iss, issuer);
    assert.deepEqual(sorted(introspected.scope.split(' ')), sorted(SCOPE.split(' ')));
    assert.equal(typeof introspected.token_type, 'string');
    assert.ok(introspected.exp > introspected.iat, 'exp after iat');

    // Refresh: a new refresh token, the same person and sign-in; the old one is then refused,
    // and presenting it again ends the whole grant (S44).
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
    assert.equal(typeof refreshed.refresh_token, 'string', 'refreshing rotates the refresh token');
    assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'a new refresh token');
    assert.notEqual(refreshed.access_token, tokens.access_token, 'a new access token');
    const refreshedClaims = refreshed.claims();
    assert.ok(refreshedClaims, 'the refresh brings an ID token');
    assert.equal(refreshedClaims.sub, claims.sub);
    assert.equal(refreshedClaims.auth_time, claims.auth_time, 'a refreshed ID token keeps auth_time');
    assert.deepEqual(refreshedClaims.amr, claims.amr, 'a refreshed ID token keeps amr');
    assert.equal(refreshedClaims.acr, claims.acr, 'a refreshed ID token keeps acr');
    assert.equal((await client.fetchUserInfo(config, refreshed.access_token, claims.sub)).email, olive.email);
    await refused(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant', 'the old refresh token, once rotated');
    await refused(
      client.refreshTokenGrant(config, refreshed.refresh_token),
      'invalid_grant',
      'the new refresh token, after the old one was presented again (S44)',
    );
    assert.equal((await client.tokenIntrospection(config, refreshed.access_token)).active, false, 'S44 ends the grant\'s access tokens too');

    // Gatehouse's session still stands: a second authorization comes straight back.
    const second = await signInAgainWithTheSession(page, { what: 'the second authorization' });
    assert.notEqual(second.tokens.refresh_token, tokens.refresh_token);
    assert.deepEqual(second.claims.amr, claims.amr, 'the same sign-in, the same amr');
    assert.equal(second.claims.auth_time, claims.auth_time, 'the same sign-in, the same auth_time');

    // Revoking the refresh token ends the grant: it no longer refreshes, nothing of it is
    // active, and userinfo refuses its access token with a Bearer challenge.
    await client.tokenRevocation(config, second.tokens.refresh_token, { token_type_hint: 'refresh_token' });
    await refused(client.refreshTokenGrant(config, second.tokens.refresh_token), 'invalid_grant', 'a revoked refresh token');
    assert.equal((await client.tokenIntrospection(config, second.tokens.refresh_token)).active, false, 'a revoked refresh token is inactive');
    assert.equal((await client.tokenIntrospection(config, second.tokens.access_token)).active, false, 'its grant\'s access token is inactive');
    await assert.rejects(
      client.fetchUserInfo(config, second.tokens.access_token, claims.sub),
      (err) => {
        assert.ok(err instanceof client.WWWAuthenticateChallengeError, `userinfo after revocation: ${err.name}: ${err.message}`);
        assert.equal(err.status, 401);
        const bearer = err.cause.find((challenge) => challenge.scheme === 'bearer');
        assert.equal(bearer?.parameters.error, 'invalid_token', 'WWW-Authenticate: Bearer error="invalid_token"');
        return true;
      },
      'userinfo refuses a revoked grant\'s access token',
    );

    // RP-initiated logout: Gatehouse asks to confirm, ends its session and returns the browser
    // to the product's post-logout URI with the state.
    const third = await signInAgainWithTheSession(page, { what: 'the authorization before signing out' });
    const state = client.randomState();
    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: third.tokens.id_token,
      post_logout_redirect_uri: product.postLogoutRedirectUri,
      state,
    });
    await page.goto(endSession.href);
    await you.expectProductSignOutPage('oauth2/logout (from Test product)');
    const signOuts = product.signOuts.length;
    await you.confirmProductSignOut(product.origin);
    assert.equal(new URL(page.url()).pathname, '/signed-out', 'back at the post-logout redirect URI');
    assert.equal(product.signOuts.length, signOuts + 1, 'the product was told once');
    assert.equal(product.signOuts.at(-1).state, state, 'the state comes back');

    // Gatehouse's session is gone: a new authorization asks to sign in.
    await page.goto(`${product.url}/login`);
    await you.expectSignInPage('sign-in (after the product signed out)');
  }));

test('Gatehouse shows its own error page for a request it cannot send back, and sends every other error back', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const authorize = (change) => {
      const url = new URL(product.config.serverMetadata().authorization_endpoint);
      const params = {
        response_type: 'code',
        client_id: product.clientId,
        redirect_uri: product.redirectUri,
        scope: 'openid email',
        state: 'state-from-the-test',
        nonce: 'nonce-from-the-test',
        code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
        code_challenge_method: 'S256',
        ...change,
      };
      for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value);
      return url.href;
    };

    // Nowhere safe to send the browser: an HTML page, status 400, no redirect (S38).
    const cases = [
      ['an unknown client_id', { client_id: 'no-such-client' }],
      ['no client_id', { client_id: undefined }],
      ['a redirect_uri that is not registered', { redirect_uri: `${product.url}/elsewhere` }],
      ['a redirect_uri on another site', { redirect_uri: 'https://attacker.example/callback' }],
    ];
    for (const [index, [what, change]] of cases.entries()) {
      const seen = product.requests.length;
      const url = authorize(change);
      const response = await page.goto(url);
      assert.equal(response.status(), 400, `${what}: status 400`);
      assert.equal(response.request().redirectedFrom(), null, `${what}: no redirect`);
      assert.match(response.headers()['content-type'] ?? '', /^text\/html/, `${what}: an HTML page`);
      await you.expectAuthorizationErrorPage(`oauth2/authorize (error page: ${what})`);
      t.diagnostic(`error page for ${what}: ${(await page.locator('main').innerText()).replace(/\s+/g, ' ')}`);
      if (index === 0) await shoot('oidc-error');
      assert.equal(page.url(), url, `${what}: the browser stays on the error page`);
      assert.deepEqual(product.requests.slice(seen), [], `${what}: nothing reaches the product`);
    }

    // Every other error goes back to the product, where openid-client checks iss and state.
    for (const [what, query, error] of [
      ['prompt=none without a session', 'prompt=none', 'login_required'],
      ['a scope without openid', 'scope=email', 'invalid_scope'],
    ]) {
      await page.goto(`${product.url}/login?${query}`);
      await page.waitForURL((url) => url.origin === product.origin && url.pathname === '/callback', { waitUntil: 'load' });
      const signIn = product.lastSignIn();
      assert.ok(
        signIn.error instanceof client.AuthorizationResponseError,
        `${what}: expected an error response, got ${signIn.error ? `${signIn.error.name}: ${signIn.error.message}` : 'tokens'}`,
      );
      assert.equal(signIn.error.error, error, `${what}: the error`);
      assert.equal(signIn.query.state, signIn.state, `${what}: the state comes back`);
      assert.equal(signIn.query.iss, env.server.baseUrl, `${what}: iss comes back`);
      assert.ok(signIn.query.error_description, `${what}: error_description`);
    }
  }));
