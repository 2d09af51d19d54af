// Authenticator apps (S14-S19): set up from "You're signed in" with the key read off the page and
// a code computed by oathtool (an implementation Gatehouse did not write), signing in then asks
// for the app's code and e-mails none; a time step counts once, so the code that confirmed the
// set-up cannot sign in and the next step's code is typed. A saved backup code still works,
// through "Try another way".

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { carriesCode } from '../lib/mail.mjs';
import { setUpAuthenticatorApp, signInForTheFirstTime } from '../lib/pages.mjs';
import { TIME_STEP_S, assertOathtoolExists, totpCode } from '../lib/totp.mjs';

const jun = { email: 'jun@example.com', password: 'harbor-thistle-copper-46' };
const kim = { email: 'kim@example.com', password: 'maple-signal-orchard-72' };

assertOathtoolExists(); // before any server starts: every code here comes from oathtool
const env = useGatehouse({ label: 'authenticator', accounts: [jun, kim] });

// Long enough for a code mail that was wrongly sent to arrive on loopback.
const MAIL_GRACE_MS = 1_500;

const compact = (text) => text.replace(/[\s-]+/g, '').toUpperCase();

test('an authenticator app is set up from the key on the page; signing in then asks for its code and e-mails none', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    await signInForTheFirstTime(you, env.mail, jun); // a fresh sign-in: changing how you sign in needs one
    const { key, setUpCode, notice } = await setUpAuthenticatorApp(you, env.mail, jun);
    assert.equal(carriesCode(notice), false, 'the notice carries no code');
    assert.ok(!compact(`${notice.text}\n${notice.html}`).includes(compact(key)), 'the key must never be e-mailed');
    await you.signOut();

    const since = env.mail.mark();
    await you.signIn(jun);
    await you.expectAuthenticatorCodePage();
    // A time step counts once (S16, S17): the code that confirmed the set-up is spent, so the
    // app's next one signs in.
    await you.submitCode(setUpCode);
    await you.expectAuthenticatorCodeRefused('sign-in/code (authenticator app, set-up code refused)');
    await you.submitCode(totpCode(key, { offsetSeconds: TIME_STEP_S }));
    await you.expectAccountPage(jun.email, 'account (signed in with the authenticator app)');

    await sleep(MAIL_GRACE_MS);
    const codeMails = env.mail.received(jun.email, { since }).filter(carriesCode);
    assert.deepEqual(codeMails.map((m) => m.subject), [], 'no code may be e-mailed when an authenticator app is set up');
  }));

test('with an authenticator app set up, "Try another way" leads to a backup code, which signs in and is replaced', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    const backupCode = await signInForTheFirstTime(you, env.mail, kim);
    await setUpAuthenticatorApp(you, env.mail, kim);
    await you.signOut();

    const since = env.mail.mark();
    await you.signIn(kim);
    await you.expectAuthenticatorCodePage();
    await you.tryAnotherWay();
    await you.useAuthenticatorApp(); // "Use your authenticator app" goes back to the app's code
    await you.tryAnotherWay();
    await you.useBackupCode();
    await you.submitBackupCode(backupCode);

    const nextBackupCode = await you.expectSaveBackupCodePage('sign-in/save-backup-code (after using one)');
    assert.notEqual(nextBackupCode, backupCode, 'the next backup code must be a new one');
    await you.confirmBackupCodeSaved();
    await you.expectBackupCodeReviewPage(kim.email);
    await you.everythingLooksRight();
    await you.expectAccountPage(kim.email);

    await env.mail.waitFor(kim.email, (m) => /backup code was used/i.test(m.subject), { since });
    const codeMails = env.mail.received(kim.email, { since }).filter(carriesCode);
    assert.deepEqual(codeMails.map((m) => m.subject), [], 'no code may be e-mailed when an authenticator app is set up');
  }));
