// Issue 11, "Products we did not write": Apache httpd with mod_auth_openidc (Debian's packages)
// protects a page (lib/apache.mjs). Chromium opens the protected page, is sent to Gatehouse,
// signs in with the e-mailed code (and saves the first backup code), comes back through
// "Returning you to Apache" and sees the claims Apache passes on (email, sub, amr); a reload
// shows mod_auth_openidc refreshing the access token behind the page (offline_access). Apache's
// logout (OIDCRedirectURI?logout=URL) sends the browser to Gatehouse's end_session_endpoint with
// id_token_hint and post_logout_redirect_uri; confirming "Sign out" ends the Gatehouse session
// and returns to Apache's signed-out page. The protected page then asks for the whole sign-in
// again (Gatehouse's own /account too), and the saved backup code signs in in place of the code.
// Apache's pages are ours, so axe checks only Gatehouse's.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ApacheProduct } from '../lib/apache.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const account = { email: 'ada@example.com', password: 'apache-harbour-lantern-73' };
const another = { email: 'lin@example.com', password: 'apache-quarry-willow-19' };
const apache = new ApacheProduct({ name: 'Apache' });
// The same module sending its authorization request as a self-submitting form.
const apachePost = new ApacheProduct({ name: 'Apache posting', authRequestMethod: 'POST' });
const env = useGatehouse({ label: 'apache-mod-auth-openidc', accounts: [account, another], products: [apache, apachePost] });

const compact = (code) => code.replaceAll('-', '').toLowerCase();

/** The claims the protected page prints (mod_include echoing what mod_auth_openidc set). */
async function protectedPageClaims(you, state, at = apache) {
  await you.page.waitForURL((url) => url.origin === at.origin && url.pathname === '/protected/', { waitUntil: 'load' });
  await you.expectVisible(you.heading('Protected by Apache'), `${state}: heading "Protected by Apache"`);
  const read = async (id) => (await you.page.locator(`#${id}`).textContent()).trim();
  return {
    email: await read('email'),
    sub: await read('sub'),
    amr: await read('amr'),
    accessToken: await read('access-token'),
    remoteUser: await read('remote-user'),
  };
}

/** Fails with Apache's error log, where mod_auth_openidc says what it refused. */
async function withApacheLog(step, at = apache) {
  try {
    return await step();
  } catch (error) {
    error.message += `\n\n--- Apache error.log ---\n${(await at.errorLog()).split('\n').slice(-40).join('\n')}`;
    throw error;
  }
}

test('Apache with mod_auth_openidc signs in through Gatehouse (e-mailed code, then a backup code) and its logout ends the Gatehouse session', { timeout: 120_000 }, (t) =>
  withVisitor(env, t, (you, { page }) =>
    withApacheLog(async () => {
      const product = { name: 'Apache', origin: apache.origin };
      assert.notEqual(product.origin, new URL(env.server.baseUrl).origin, 'Apache has its own site');

      // The protected page sends the browser to Gatehouse's sign-in.
      await page.goto(apache.protectedUrl);
      await you.expectSignInPage('sign-in (for Apache)');
      const authorize = new URL(page.url());
      t.diagnostic(`Apache sent the browser to ${authorize.origin}${authorize.pathname}`);
      assert.equal(authorize.origin, new URL(env.server.baseUrl).origin, 'the sign-in is Gatehouse\'s page');

      // The e-mailed code, the first backup code to save, then back to Apache.
      await you.submitEmail(account.email);
      let since = env.mail.mark();
      await you.submitPassword(account.password);
      await you.expectCodePage(account.email);
      const { code } = await env.mail.nextCode(account.email, { since });
      await you.submitCode(code);
      const backupCode = await you.expectSaveBackupCodePage();
      await you.confirmBackupCodeSavedAndReturn(product);
      const first = await protectedPageClaims(you, 'Apache (signed in)');
      assert.equal(first.email, account.email, 'Apache passes on the e-mail claim');
      assert.match(first.sub, /\S/, 'Apache passes on the sub claim');
      assert.equal(first.remoteUser, first.sub, 'REMOTE_USER is the sub (OIDCRemoteUserClaim sub)');
      assert.deepEqual(first.amr.split(',').sort(), ['email', 'mfa', 'pwd'], 'amr: password and an e-mailed code');

      // A reload stays signed in on Apache's own session, no new trip to Gatehouse in the
      // browser; behind it mod_auth_openidc refreshes the access token (the refresh grant with
      // rotation, offline_access) and goes on with the new one.
      await page.reload();
      const reloaded = await protectedPageClaims(you, 'Apache (reloaded)');
      assert.equal(reloaded.sub, first.sub);
      assert.equal(new URL(page.url()).origin, apache.origin, 'the reload stays on Apache');
      assert.match(first.accessToken, /\S/, 'Apache holds an access token');
      assert.notEqual(reloaded.accessToken, first.accessToken, 'mod_auth_openidc refreshed the access token');

      // Apache's logout: to Gatehouse's confirmation, "Sign out", back to Apache's signed-out page.
      await you.navigate(() => you.link('Sign out').click());
      await you.expectProductSignOutPage('oauth2/logout (from Apache)');
      const logout = new URL(page.url());
      assert.ok(logout.searchParams.get('id_token_hint'), 'mod_auth_openidc sends id_token_hint');
      assert.equal(logout.searchParams.get('post_logout_redirect_uri'), apache.postLogoutRedirectUri);
      await you.confirmProductSignOut(product.origin);
      await page.waitForURL(apache.postLogoutRedirectUri, { waitUntil: 'load' });
      await you.expectVisible(you.heading('Signed out of Apache'), 'Apache: heading "Signed out of Apache"');

      // The Gatehouse session is gone: its account page asks to sign in, and so does Apache.
      await page.goto(`${env.server.baseUrl}/account`);
      await you.expectSignInPage('sign-in (Gatehouse, after Apache\'s logout)');
      await page.goto(apache.protectedUrl);
      await you.expectSignInPage('sign-in (for Apache, after its logout)');

      // Again, with the saved backup code in place of the e-mailed code.
      await you.submitEmail(account.email);
      since = env.mail.mark();
      await you.submitPassword(account.password);
      await you.expectCodePage(account.email, 'sign-in/code (for Apache, second time)');
      await you.useBackupCode();
      await you.submitBackupCode(compact(backupCode));
      const next = await you.expectSaveBackupCodePage('sign-in/save-backup-code (for Apache, after using one)');
      assert.notEqual(next, backupCode, 'the next backup code must be a new one');
      await you.confirmBackupCodeSaved();
      // Issue 12: a backup-code sign-in is reviewed, then "Everything looks right" goes on.
      await you.expectBackupCodeReviewPage(account.email, 'sign-in/review (on the way to Apache)');
      await you.returnToProduct(product, { link: 'Everything looks right' });
      const second = await protectedPageClaims(you, 'Apache (signed in with the backup code)');
      assert.equal(second.email, account.email);
      assert.equal(second.sub, first.sub, 'the same person has the same sub');
      assert.deepEqual(second.amr.split(',').sort(), ['backup-code', 'mfa', 'pwd'], 'amr: password and a backup code');
      await env.mail.waitFor(account.email, (m) => /backup code was used/i.test(m.subject), { since });
    }),
  ));

// OpenID Connect Core §3.1.2.1: the authorization endpoint takes POST as well as GET. With
// OIDCProviderAuthRequestMethod POST the module's page posts the request to Gatehouse (it got
// 405 before); Gatehouse sends it on as a GET, where the browser's live session is seen (a
// cross-site POST carries no SameSite=Lax cookie), so the person comes straight back signed in.
test('mod_auth_openidc posting its authorization request (OIDCProviderAuthRequestMethod POST) comes straight back through the live Gatehouse session', { timeout: 90_000 }, (t) =>
  withVisitor(env, t, (you, { page }) =>
    withApacheLog(async () => {
      await signInForTheFirstTime(you, env.mail, another);
      const posted = [];
      page.on('request', (request) => {
        if (request.isNavigationRequest() && new URL(request.url()).pathname === '/oauth2/authorize') posted.push(request.method());
      });
      await page.goto(apachePost.protectedUrl);
      const claims = await protectedPageClaims(you, 'Apache posting (signed in)', apachePost);
      assert.deepEqual(posted.slice(0, 1), ['POST'], 'the module posted its authorization request');
      assert.equal(claims.email, another.email);
      assert.deepEqual(claims.amr.split(',').sort(), ['email', 'mfa', 'pwd'], 'the sign-in made on Gatehouse');
    }, apachePost),
  ));
