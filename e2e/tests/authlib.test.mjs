// Issue 11, "Products we did not write": a client in another language. A Flask app on Python's
// Authlib (python/authlib_product.py, run from the venv scripts/test makes with
// python/requirements.txt) does discovery, the code flow with PKCE, ID-token validation against
// the JWKS, userinfo and a refresh, all by Authlib's own code. This file owns Gatehouse, the mail
// and Chromium: it opens the authorization URL the app made, signs in as a person does (the
// e-mailed code, the first backup code saved), catches the browser on its way back at the
// redirect URI (a loopback listener of this file's) and hands that URL to the app, then compares what the app
// learned with what it should have.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import http from 'node:http';
import { access } from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import { after, test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { E2E_DIR, withTimeout } from '../lib/server.mjs';

const PYTHON = process.env.AUTHLIB_PYTHON ?? path.join(E2E_DIR, 'python', '.venv', 'bin', 'python');
const SCRIPT = path.join(E2E_DIR, 'python', 'authlib_product.py');
const STEP_TIMEOUT_MS = 30_000;
const ALGORITHMS = ['RS256', 'ES256', 'EdDSA'];

const account = { email: 'grace@example.com', password: 'python-meadow-compass-58' };
const catcher = await startRedirectCatcher();
const REDIRECT_URI = catcher.redirectUri;
after(() => catcher.stop());
const env = useGatehouse({
  label: 'authlib',
  accounts: [account],
  // One client per signing algorithm Gatehouse offers (RS256, the default; ES256; EdDSA).
  clients: ALGORITHMS.map((alg) => ({ name: `Authlib product (${alg})`, redirectUris: [REDIRECT_URI], signingAlg: alg === 'RS256' ? undefined : alg })),
});

/** The Python product: its JSON lines in order, a line to its stdin, and how it ended. */
async function startAuthlibProduct(client) {
  try {
    await access(PYTHON, constants.X_OK);
  } catch {
    throw new Error(
      `Python with Authlib is needed and missing at ${PYTHON}.\n` +
        'Make the venv: python3 -m venv e2e/python/.venv && e2e/python/.venv/bin/pip install -r e2e/python/requirements.txt (scripts/test does), or set AUTHLIB_PYTHON.',
    );
  }
  const child = spawn(PYTHON, [SCRIPT], {
    env: {
      ...process.env,
      GATEHOUSE_ISSUER: env.server.baseUrl,
      GATEHOUSE_CLIENT_ID: client.client_id,
      GATEHOUSE_CLIENT_SECRET: client.client_secret,
      REDIRECT_URI,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const stderr = [];
  child.stderr.on('data', (chunk) => stderr.push(String(chunk)));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const failure = async (what) => {
    const { code, signal } = await withTimeout(exited, 5_000, 'the Python product').catch(() => ({}));
    return new Error(`${what} (Python exit ${code ?? signal ?? 'none yet'}):\n${stderr.join('')}`);
  };
  return {
    async next(what) {
      let line;
      try {
        line = await withTimeout(lines.next(), STEP_TIMEOUT_MS, `the Python product (${what})`);
      } catch (error) {
        child.kill('SIGKILL');
        throw await failure(error.message);
      }
      if (line.done) throw await failure(`the Python product ended before ${what}`);
      return JSON.parse(line.value);
    },
    send: (text) => child.stdin.write(`${text}\n`),
    exited,
    stderr: () => stderr.join(''),
    kill: () => child.kill('SIGKILL'),
  };
}

/**
 * The redirect URI's listener: a loopback page that keeps each URL the browser brought back
 * (the Python product has no port of its own; the test hands it the URL).
 */
async function startRedirectCatcher() {
  const waiting = [];
  const server = http.createServer((req, res) => {
    const url = `http://localhost:${server.address().port}${req.url}`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!DOCTYPE html><html lang="en"><title>Back at the product</title><main><h1>Back at the product</h1></main></html>');
    waiting.shift()?.(url);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    redirectUri: `http://localhost:${server.address().port}/authlib/callback`,
    /** The next URL brought back, once the browser gets there. */
    next: () => withTimeout(new Promise((resolve) => waiting.push(resolve)), 15_000, 'the way back to the redirect URI'),
    stop: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Runs the Python product for `client`; `browse(authorize)` does the browser's part and returns the callback URL. */
async function runAuthlibProduct(t, client, browse) {
  const product = await startAuthlibProduct(client);
  try {
    const { authorize } = await product.next('the authorization URL');
    const request = new URL(authorize);
    assert.equal(`${request.origin}${request.pathname}`, `${env.server.baseUrl}/oauth2/authorize`, 'Authlib found the authorization endpoint by discovery');
    assert.equal(request.searchParams.get('code_challenge_method'), 'S256');
    const callback = await browse(authorize);
    assert.equal(new URL(callback).searchParams.get('state'), request.searchParams.get('state'), 'the state comes back');
    product.send(callback);
    const result = await product.next('the result');
    t.diagnostic(`${client.name}: ID token signed ${result.alg}; Authlib's refusals: ${JSON.stringify(result.refusals)}`);
    const { code: exitCode } = await withTimeout(product.exited, 10_000, 'the Python product exit');
    assert.equal(exitCode, 0, `the Python product failed:\n${product.stderr()}`);
    assert.equal(result.ok, true);
    assert.equal(result.claims.nonce, request.searchParams.get('nonce'));
    return result;
  } finally {
    product.kill();
  }
}

test('Authlib (Python, Flask) signs in through Gatehouse: discovery, code flow with PKCE, ID token checked against the JWKS (RS256, ES256, EdDSA), userinfo, refresh', { timeout: 120_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const results = [];
    for (const [index, client] of env.clients.entries()) {
      const result = await runAuthlibProduct(t, client, async (authorize) => {
        const back = catcher.next();
        await page.goto(authorize);
        if (index === 0) {
          // The first product: the whole sign-in, the e-mailed code, the first backup code.
          await you.expectSignInPage('sign-in (for Authlib product)');
          await you.submitEmail(account.email);
          const since = env.mail.mark();
          await you.submitPassword(account.password);
          await you.expectCodePage(account.email);
          const { code } = await env.mail.nextCode(account.email, { since });
          await you.submitCode(code);
          await you.expectSaveBackupCodePage();
          await you.confirmBackupCodeSaved();
        }
        // The others go straight back through the live Gatehouse session.
        return back;
      });
      assert.equal(result.alg, ALGORITHMS[index], `${client.name}: the ID token is signed with the client's algorithm`);
      assert.equal(result.claims.iss, env.server.baseUrl);
      assert.equal(result.claims.aud, client.client_id);
      assert.equal(result.claims.email, account.email);
      assert.deepEqual([...result.claims.amr].sort(), ['email', 'mfa', 'pwd']);
      assert.deepEqual(result.userinfo, { sub: result.claims.sub, email: account.email, email_verified: true });
      assert.equal(result.refreshed_claims.sub, result.claims.sub);
      assert.deepEqual(result.refreshed_claims.amr, result.claims.amr, 'a refreshed ID token keeps amr');
      assert.match(result.refusals.forged_signature, /signature/i);
      assert.match(result.refusals.wrong_nonce, /nonce/i);
      assert.equal(result.refusals.reused_refresh_token, 'invalid_grant');
      results.push(result);
    }
    assert.equal(new Set(results.map((r) => r.claims.sub)).size, 1, 'one person, one sub, whichever product');
  }));
