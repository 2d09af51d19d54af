// Passkeys (S58) with Chromium's virtual authenticator (Chrome DevTools Protocol `WebAuthn.*`
// through playwright-core's CDP session; an authenticator with resident keys and user
// verification, like a phone's or a laptop's): "Add a passkey" on the account page after a
// recent sign-in, named after the browser and renamed; "Sign in with a passkey" on "Sign in",
// with no address, password or code; a bad signature refused
// (`WebAuthn.setResponseOverrideBits`); a passkey of another account refused on this
// address's password page; "Remove", after which it signs nobody in. axe on every page.
//
// A relying party id must be a domain, so this server is reached as http://localhost:PORT
// (a secure context, like https), its GATEHOUSE_PUBLIC_URL.

import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { carriesCode } from '../lib/mail.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const ada = { email: 'ada@example.com', password: 'lantern-quarry-violet-31' };
const ben = { email: 'ben@example.com', password: 'copper-meadow-falcon-58' };
const cy = { email: 'cy@example.com', password: 'harvest-pebble-signal-77' };
const di = { email: 'di@example.com', password: 'orbit-lichen-tundra-93' };

const REFUSED = 'That passkey could not sign you in. Try again, or sign in another way.';
const ADDED = 'Your passkey is added. It signs you in on its own: no password, no code.';

/** A free loopback port, for a server whose public URL must be known before it starts. */
async function freePort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const port = await freePort();
const PUBLIC_URL = `http://localhost:${port}`;
const env = useGatehouse({
  label: 'passkeys',
  accounts: [ada, ben, cy, di],
  env: { GATEHOUSE_LISTEN: `127.0.0.1:${port}`, GATEHOUSE_PUBLIC_URL: PUBLIC_URL },
});

/**
 * Runs a journey against the public URL (the listening line names 127.0.0.1). The virtual
 * authenticator answers the e-mail field's autofill offer (conditional mediation) at once, as
 * if the person had picked the passkey there; journeys that press "Sign in with a passkey"
 * turn that offer off (`autofill: false`), one journey shows it.
 */
function visit(t, journey, { autofill = false } = {}) {
  const server = { ...env.server, baseUrl: PUBLIC_URL, unexpectedExit: () => env.server.unexpectedExit() };
  return withVisitor({ ...env, server }, t, async (you, browser) => {
    if (!autofill) {
      await browser.context.addInitScript(() => {
        if (window.PublicKeyCredential) window.PublicKeyCredential.isConditionalMediationAvailable = async () => false;
      });
    }
    await journey(you, browser);
  });
}

/** This browser's platform authenticator: resident keys, a person who verifies. */
async function addAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    cdp,
    authenticatorId,
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
    bogusSignatures: (isBogusSignature) =>
      cdp.send('WebAuthn.setResponseOverrideBits', { authenticatorId, isBogusSignature }),
  };
}

const passkeyButton = (you) => you.button('Sign in with a passkey');

/** From "You're signed in": "Add a passkey"; back on the account page with the notice. */
async function addPasskey(you, mail, account) {
  await you.expectVisible(you.heading('Passkeys'), 'account: heading "Passkeys"');
  const since = mail.mark();
  await you.navigate(() => you.button('Add a passkey').click());
  await you.arrive('account (passkey added)', [[you.text(ADDED), `the notice "${ADDED}"`]]);
  const notice = await mail.waitFor(account.email, (m) => /passkey was added/i.test(m.subject), { since });
  assert.equal(carriesCode(notice), false, 'the notice carries no code');
}

/** The passkeys listed on the account page, by the name in their "Passkey name" field. */
async function listedPasskeys(you) {
  return you.page.locator('li.passkey input[name="name"]').evaluateAll((inputs) => inputs.map((i) => i.value));
}

test('a passkey added on the account page signs in alone from "Sign in": no address, no password, no code', { timeout: 90_000 }, (t) =>
  visit(t, async (you, { page }) => {
    const authenticator = await addAuthenticator(page);
    await signInForTheFirstTime(you, env.mail, ada); // a recent sign-in: adding a passkey needs one
    await addPasskey(you, env.mail, ada);
    const [stored] = await authenticator.credentials();
    assert.equal(stored.isResidentCredential, true, 'a discoverable credential, so no address is typed');
    assert.equal(stored.rpId, 'localhost');

    // Named after the browser and system it was made on; the name can be changed.
    const [name] = await listedPasskeys(you);
    assert.match(name, /Chrome|Chromium/);
    await you.expectVisible(you.text('last used never'), 'account: the new passkey, never used');
    await screenshotAtBothSizes(page, 'account-passkeys');
    const field = you.page.locator('li.passkey').getByLabel('Passkey name', { exact: true });
    await field.fill('Work laptop');
    await you.navigate(() => you.page.getByRole('button', { name: `Rename ${name}`, exact: true }).click());
    await you.arrive('account (passkey renamed)', [[you.text('Your passkey was renamed.'), 'the notice "Your passkey was renamed."']]);
    assert.deepEqual(await listedPasskeys(you), ['Work laptop']);
    await you.signOut();

    const since = env.mail.mark();
    await you.expectVisible(passkeyButton(you), 'sign-in: button "Sign in with a passkey"');
    await screenshotAtBothSizes(page, 'sign-in-with-passkey');
    const visited = [];
    page.on('framenavigated', (frame) => frame === page.mainFrame() && visited.push(new URL(frame.url()).pathname));
    await you.navigate(() => passkeyButton(you).click());
    await you.expectAccountPage(ada.email, 'account (signed in with a passkey)');
    // No password page, no code page, so no "Trust this device" either: there is no code to skip.
    assert.deepEqual(visited.filter((p) => p.startsWith('/sign-in')), [], `went through ${visited.join(', ')}`);
    assert.deepEqual(env.mail.received(ada.email, { since }).filter(carriesCode).map((m) => m.subject), [], 'no code was sent');
    await you.expectVisible(you.text('Signed in with a passkey'), 'account: the activity "Signed in with a passkey"');
    assert.doesNotMatch(await page.locator('li.passkey').innerText(), /last used never/, 'its last use is shown');
  }));

test('a bad signature is refused, and the same passkey then signs in', { timeout: 90_000 }, (t) =>
  visit(t, async (you, { page }) => {
    const authenticator = await addAuthenticator(page);
    await signInForTheFirstTime(you, env.mail, ben);
    await addPasskey(you, env.mail, ben);
    await you.signOut();

    await authenticator.bogusSignatures(true);
    await you.navigate(() => passkeyButton(you).click());
    await you.arrive('sign-in (passkey refused)', [[you.text(REFUSED), `the text "${REFUSED}"`]]);
    assert.equal(new URL(page.url()).pathname, '/sign-in/passkey', 'still signing in');

    await authenticator.bogusSignatures(false);
    await you.openSignIn();
    await you.navigate(() => passkeyButton(you).click());
    await you.expectAccountPage(ben.email, 'account (signed in with a passkey)');
  }));

test("another account's passkey does not finish this address's sign-in; removed, a passkey signs nobody in", { timeout: 90_000 }, (t) =>
  visit(t, async (you, { page }) => {
    await addAuthenticator(page);
    await signInForTheFirstTime(you, env.mail, cy);
    await addPasskey(you, env.mail, cy);
    await you.signOut();

    // Ada's address, Cy's passkey: the password page offers passkeys, but only hers count.
    await you.submitEmail(ada.email);
    await you.expectVisible(passkeyButton(you), 'sign-in/password: button "Sign in with a passkey"');
    await you.navigate(() => passkeyButton(you).click());
    await you.arrive('sign-in/password (passkey of another account)', [[you.text(REFUSED), `the text "${REFUSED}"`]]);
    await you.expectPasswordPage(ada.email, 'sign-in/password (after the refused passkey)');

    // Cy's own address and passkey go through from the password page too.
    await you.notYou();
    await you.submitEmail(cy.email);
    await you.navigate(() => passkeyButton(you).click());
    await you.expectAccountPage(cy.email, 'account (passkey from the password page)');

    // "Remove": a recent sign-in (this one) is enough; the passkey then signs nobody in.
    const since = env.mail.mark();
    await you.navigate(() => you.page.locator('li.passkey').getByRole('button', { name: /^Remove / }).click());
    await you.arrive('account (passkey removed)', [
      [you.text('Your passkey was removed. It no longer signs you in.'), 'the notice "Your passkey was removed."'],
    ]);
    assert.deepEqual(await listedPasskeys(you), []);
    await env.mail.waitFor(cy.email, (m) => /passkey was removed/i.test(m.subject), { since });
    await you.signOut();
    await you.navigate(() => passkeyButton(you).click());
    await you.arrive('sign-in (removed passkey refused)', [[you.text(REFUSED), `the text "${REFUSED}"`]]);
  }));

test("the e-mail field's autofill offers the passkey, which signs in without a button", { timeout: 90_000 }, (t) =>
  visit(
    t,
    async (you, { page }) => {
      await addAuthenticator(page);
      await signInForTheFirstTime(you, env.mail, di);
      await addPasskey(you, env.mail, di);
      const documents = [];
      page.on('request', (request) => request.isNavigationRequest() && documents.push(`${request.method()} ${new URL(request.url()).pathname}`));
      await you.navigate(() => you.button('Sign out').click());
      await page.waitForURL(`${PUBLIC_URL}/account`);
      await you.expectAccountPage(di.email, 'account (signed in from the autofill)');
      assert.deepEqual(documents.slice(-3), ['GET /sign-in', 'POST /sign-in/passkey', 'GET /account'], documents.join(', '));
    },
    { autofill: true },
  ));
