// A phone for sign-in codes (S13, S34), texted through a real HTTP server on loopback that
// plays Twilio's Messages API: added and verified from the account page, it then gets the
// sign-in code and no code is e-mailed. Trusted devices (S29): listed on the account page by
// browser and system, one is revoked, and that browser is asked for a code again. The account
// page (with a phone and a trusted device) and "Verify your phone" are saved as screenshots.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { carriesCode } from '../lib/mail.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';
import { maskPhone } from '../lib/sms.mjs';

const lena = { email: 'lena@example.com', password: 'birch-lantern-harvest-31' };
const mia = { email: 'mia@example.com', password: 'cobalt-meadow-ferry-58' };
const nora = { email: 'nora@example.com', password: 'pewter-orchard-signal-77' };

const env = useGatehouse({ label: 'phone-and-devices', accounts: [lena, mia, nora], sms: true });

// Long enough for a code mail that was wrongly sent to arrive on loopback.
const MAIL_GRACE_MS = 1_500;

// Headless Chromium names itself "HeadlessChrome/…", which reads as Chrome (or Chromium).
const THIS_BROWSER = /^Chrom(e|ium) on Linux$/;

test('a phone is added and verified with a texted code; signing in then texts the code and e-mails none', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    await signInForTheFirstTime(you, env.mail, lena); // e-mailed code, backup code saved

    const sinceAdding = env.sms.mark();
    await you.addPhone('+44 7700 900123'); // typed with spaces, as people do
    await you.expectVerifyPhonePage('•••• 0123');
    const { code, text } = await env.sms.waitForCode('+447700900123', { since: sinceAdding });
    assert.equal(text.to, '+447700900123', 'the text goes To the number in E.164, without spaces');
    assert.equal(text.from, '+15550001111', 'the text comes From GATEHOUSE_SMS_FROM');
    assert.equal(text.auth, 'AC0123456789:twilio-secret', 'basic auth is AccountSid:AuthToken');
    assert.equal(text.account, 'AC0123456789', 'the text is posted to the account in GATEHOUSE_SMS_TWILIO_ACCOUNT_SID');
    assert.match(text.body, /^\d{6} is your Gatehouse code\./, 'the body starts with the code');
    assert.equal(maskPhone(text.to), '•••• 0123');
    await you.confirmPhone(code);
    await you.expectPhoneAdded(lena.email);
    await you.signOut();

    const sinceMail = env.mail.mark();
    const sinceSigningIn = env.sms.mark();
    await you.signIn(lena);
    await you.expectPhoneCodePage('•••• 0123');
    const { code: signInCode } = await env.sms.waitForCode('+447700900123', { since: sinceSigningIn });
    assert.notEqual(signInCode, code, 'the sign-in code is a new one');
    await you.submitCode(signInCode);
    await you.expectAccountPage(lena.email, 'account (signed in with a texted code)');

    await sleep(MAIL_GRACE_MS);
    const codeMails = env.mail.received(lena.email, { since: sinceMail }).filter(carriesCode);
    assert.deepEqual(codeMails.map((m) => m.subject), [], 'no code may be e-mailed when a phone is verified');
  }));

test('a trusted device is revoked from the account page, and that browser is asked for a code again', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    await signInForTheFirstTime(you, env.mail, mia, { trustDevice: true });
    await you.signOut();

    await you.signIn(mia);
    await you.expectAccountPage(mia.email, 'account (trusted device, no code asked)');
    const devices = await you.trustedDevices();
    assert.equal(devices.length, 1, `one trusted device is listed, found: ${JSON.stringify(devices)}`);
    assert.match(devices[0].browser, THIS_BROWSER, 'the device is named by browser and system');

    await you.revokeTrustedDevice(devices[0].revokeName, mia.email);
    assert.deepEqual(await you.trustedDevices('account (no trusted device left)'), [], 'the revoked device is no longer listed');
    await you.signOut();

    const since = env.mail.mark();
    await you.signIn(mia); // the same browser, still holding its old trust cookie
    await you.expectCodePage(mia.email, 'sign-in/code (device revoked)');
    await env.mail.nextCode(mia.email, { since });
  }));

test('"Verify your phone", "Check your phone" and the account page with a phone and a trusted device render at phone and desktop sizes', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    // Sideways scrolling is reported, not failed: the pictures are for people to judge.
    const shoot = async (name) => {
      const overflow = await screenshotAtBothSizes(page, name);
      for (const [size, px] of Object.entries(overflow)) {
        if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
      }
    };

    await signInForTheFirstTime(you, env.mail, nora);
    let since = env.sms.mark();
    await you.addPhone('+44 7700 900456');
    await you.expectVerifyPhonePage('•••• 0456');
    await shoot('account-verify-phone');

    const { code } = await env.sms.waitForCode('+447700900456', { since });
    await you.confirmPhone(code);
    await you.expectPhoneAdded(nora.email);
    await you.signOut();

    // Verifying a phone revokes every trusted device (S29), so this browser is trusted after it.
    since = env.sms.mark();
    await you.signIn(nora);
    await you.expectPhoneCodePage('•••• 0456');
    await shoot('sign-in-code-texted');
    const { code: signInCode } = await env.sms.waitForCode('+447700900456', { since });
    await you.submitCode(signInCode, { trustDevice: true });
    await you.expectAccountPage(nora.email, 'account (phone and trusted device)');
    const devices = await you.trustedDevices();
    assert.equal(devices.length, 1, `one trusted device is listed, found: ${JSON.stringify(devices)}`);
    await shoot('account-with-phone-and-device');
  }));
