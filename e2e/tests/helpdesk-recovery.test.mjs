// Helpdesk recovery (issue 12, part 3) and the account page's lock-out nudge (part 4), in
// Chromium under axe-core: the owner stops a recovery with the e-mailed link's button "Cancel
// this recovery" (opening the link changes nothing, S59); after the waiting period the recovery
// link's page "Recover your account" resets the second step, the next sign-in e-mails a code and
// saves a new backup code, and the account page says "Add an authenticator app or a passkey".
// The cancel page, the recovery page and the nudge are saved as screenshots at both sizes.
//
// The waiting period (72 hours) is the one thing a test cannot wait for: it is moved back in the
// server's SQLite file with Debian's sqlite3, as the Rust end-to-end tests do with sqlx.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const rosa = { email: 'rosa@example.com', password: 'harbor-willow-cinder-37' }; // cancels
const sam = { email: 'sam@example.com', password: 'pewter-lagoon-thistle-58' }; // is recovered

const env = useGatehouse({ label: 'helpdesk-recovery', accounts: [rosa, sam] });

const STARTED = 'Someone asked to recover your Gatehouse account';
const CANCELLED = 'The recovery of your Gatehouse account was cancelled';
const RECOVERED = 'Your account was recovered. Sign in with your password: we will email you a code, then show you a new backup code.';
const SQLITE3 = process.env.SQLITE3_PATH ?? '/usr/bin/sqlite3';

function shooter(t, page) {
  return async (name) => {
    const overflow = await screenshotAtBothSizes(page, name);
    for (const [size, px] of Object.entries(overflow)) {
      if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
    }
  };
}

/** The path (with its token) of the one `route` link in `text`: the CLI builds links on its own base. */
function pathOf(text, route) {
  const links = [...new Set(text.match(new RegExp(`${route.replace(/\//g, '\\/')}\\?token=[A-Za-z0-9_-]+`, 'g')) ?? [])];
  assert.equal(links.length, 1, `expected one ${route} link, found ${links.length}:\n${text}`);
  return links[0];
}

async function cli(args) {
  const out = await env.server.cli(args);
  assert.equal(out.code, 0, `gatehouse ${args.join(' ')} failed:\n${out.stderr}`);
  return out;
}

async function pendingRecovery(email) {
  return JSON.parse((await cli(['user', 'show', email])).stdout).pending_recovery;
}

function endTheWait() {
  execFileSync(SQLITE3, [
    path.join(env.server.dataDir, 'gatehouse.db'),
    'PRAGMA busy_timeout = 5000; UPDATE account_recoveries SET ready_at = ready_at - 72 * 3600;',
  ]);
}

test('the owner stops a helpdesk recovery with "Cancel this recovery" from the e-mailed link', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const since = env.mail.mark();
    await cli(['user', 'recover', rosa.email]);
    const notice = await env.mail.waitFor(rosa.email, (m) => m.subject === STARTED, { since });
    const link = `${env.server.baseUrl}${pathOf(notice.text, '/recovery/cancel')}`;

    await page.goto(link);
    await you.arrive('recovery/cancel', [
      [you.heading('Someone asked to recover your account'), 'heading "Someone asked to recover your account"'],
      [you.button('Cancel this recovery'), 'button "Cancel this recovery"'],
    ]);
    await shoot('recovery-cancel');
    await page.reload();
    assert.notEqual(await pendingRecovery(rosa.email), null, 'opening the link changes nothing');

    const sinceCancel = env.mail.mark();
    await you.navigate(() => you.button('Cancel this recovery').click());
    await you.arrive('recovery/cancelled', [[you.heading('Recovery cancelled'), 'heading "Recovery cancelled"']]);
    assert.equal(await pendingRecovery(rosa.email), null);
    await env.mail.waitFor(rosa.email, (m) => m.subject === CANCELLED, { since: sinceCancel });

    await page.goto(link); // single use
    await you.arrive('recovery/cancel (link already used)', [[you.text('This recovery link is no longer valid'), 'the refusal']]);
    assert.equal(await you.button('Cancel this recovery').count(), 0, 'a used link offers no button');
  }));

test('after the wait, "Recover your account" resets the second step; the next sign-in saves a new backup code and the account page nudges', { timeout: 90_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const oldBackupCode = await signInForTheFirstTime(you, env.mail, sam);
    await you.signOut();

    await cli(['user', 'recover', sam.email]);
    endTheWait();
    const issued = JSON.parse((await cli(['user', 'recover', '--link', sam.email])).stdout);
    const link = `${env.server.baseUrl}${pathOf(issued.recovery_link, '/recover')}`;

    await page.goto(link);
    await you.arrive('recover', [
      [you.heading('Recover your account'), 'heading "Recover your account"'],
      [you.button('Recover my account'), 'button "Recover my account"'],
    ]);
    await shoot('recover');
    await you.navigate(() => you.button('Recover my account').click());
    await you.expectSignInNotice(RECOVERED, 'sign-in (after the recovery)');

    const newBackupCode = await signInForTheFirstTime(you, env.mail, sam);
    assert.notEqual(newBackupCode, oldBackupCode, 'a recovery ends the old backup code and the sign-in shows a new one');
    await you.arrive('account (lock-out nudge)', [
      [you.heading('Keep your account safe'), 'heading "Keep your account safe"'],
      [you.button('Add an authenticator app or a passkey'), 'button "Add an authenticator app or a passkey"'],
    ]);
    await shoot('account-risk-nudge');
  }));
