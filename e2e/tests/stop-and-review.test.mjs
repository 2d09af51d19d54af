// Issue 12, parts 1 and 2. "Wasn't you? Stop this sign-in." in the code mail: its page shows
// one button and changes nothing; the button ends that sign-in (the browser that started it
// must start over) and says someone knows the password. A backup-code sign-in is reviewed on
// "You signed in with your backup code" before "Everything looks right" goes on; a new address
// asked for right after it waits 24 hours, and the old address cancels it with one click.
// axe on every page; screenshots of the four new pages at phone and desktop sizes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { extractCode } from '../lib/mail.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const rosa = { email: 'rosa@example.com', password: 'harbor-lantern-thistle-37' };
const sami = { email: 'sami@example.com', password: 'quartz-meadow-ferry-52' };
const SAMI_NEW = 'sami@new.example';

const env = useGatehouse({ label: 'stop-and-review', accounts: [rosa, sami] });

function shooter(t, page) {
  return async (name) => {
    const overflow = await screenshotAtBothSizes(page, name);
    for (const [size, px] of Object.entries(overflow)) {
      if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
    }
  };
}

/** The link on the line that starts with `prefix` in a mail's plain text. */
function linkAfter(message, prefix) {
  const line = message.text.split('\n').find((l) => l.startsWith(prefix));
  assert.ok(line, `a line "${prefix} LINK" in:\n${message.text}`);
  return line.slice(prefix.length).trim();
}

test('the stop link in the code mail shows one button, and the button ends that sign-in', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const since = env.mail.mark();
    await you.signIn(rosa);
    await you.expectCodePage(rosa.email);
    const { code, message } = await env.mail.nextCode(rosa.email, { since });
    const link = linkAfter(message, "Wasn't you? Stop this sign-in: ");

    // Opening the link changes nothing: the code page still works in this browser.
    await page.goto(link);
    await you.expectStopSignInPage();
    await shoot('sign-in-stop');
    await page.goto(`${env.server.baseUrl}/sign-in/code`);
    await you.expectCodePage(rosa.email, 'sign-in/code (after the stop link was opened)');

    await page.goto(link);
    await you.expectStopSignInPage('sign-in/stop (again)');
    await you.stopThisSignIn();
    await you.expectSignInStopped();
    await shoot('sign-in-stopped');

    // The browser that started it must start over: its code page is gone.
    await page.goto(`${env.server.baseUrl}/sign-in/code`);
    await you.expectSignInPage('sign-in (the stopped sign-in must start over)');
    assert.ok(code, 'the mail carried a code');

    // The link works once.
    await page.goto(link);
    await you.arrive('sign-in/stop (already used)', [
      [you.heading('Stop this sign-in'), 'heading "Stop this sign-in"'],
      [you.text('That sign-in was already stopped.'), 'the text "That sign-in was already stopped."'],
    ]);
    assert.equal(await you.button('Stop this sign-in').count(), 0, 'no button once it was used');
  }));

test('a backup-code sign-in is reviewed, and a new address then waits until the old one cancels it', { timeout: 90_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const backupCode = await signInForTheFirstTime(you, env.mail, sami, { trustDevice: true });
    await you.signOut();
    // Another browser: the one above stays trusted, so the review lists it.
    await page.context().clearCookies();
    await you.signIn(sami);
    await you.expectCodePage(sami.email);
    await you.useBackupCode();
    await you.submitBackupCode(backupCode);
    await you.expectSaveBackupCodePage('sign-in/save-backup-code (after using one)');
    await you.confirmBackupCodeSaved();
    await you.expectBackupCodeReviewPage(sami.email);
    const devices = page.getByRole('region', { name: 'Trusted devices', exact: true });
    assert.equal(await devices.getByRole('button', { name: /^Revoke .+, trusted .+$/ }).count(), 1, 'the trusted device is listed with a revoke button');
    await shoot('sign-in-review');
    await you.navigate(() => devices.getByRole('button', { name: /^Revoke .+, trusted .+$/ }).click());
    await you.arrive('sign-in/review (device revoked)', [
      [you.heading('You signed in with your backup code'), 'heading "You signed in with your backup code"'],
      [you.text('That device will be asked for a code next time.'), 'the notice of the revoked device'],
    ]);
    await you.everythingLooksRight();
    await you.expectAccountPage(sami.email, 'account (after the review)');

    const since = env.mail.mark();
    await you.changeEmail(SAMI_NEW);
    const { code } = await env.mail.nextCode(SAMI_NEW, { since });
    await you.confirmNewEmail(code);
    await you.arrive('account (new address waiting)', [
      [you.text('the new address takes effect in 24 hours'), 'the notice that the change waits'],
      [you.text(sami.email), `still "${sami.email}"`],
    ]);

    const notice = await env.mail.waitFor(sami.email, (m) => /will change in 24 hours/.test(m.subject), { since });
    assert.throws(() => extractCode(notice), /found none/, 'the notice carries no code');
    const cancel = linkAfter(notice, "Wasn't you? Cancel this change: ");
    await page.goto(cancel);
    await you.arrive('email-change/cancel', [
      [you.heading('Cancel this change'), 'heading "Cancel this change"'],
      [you.button('Cancel this change'), 'button "Cancel this change"'],
    ]);
    await shoot('email-change-cancel');
    await you.navigate(() => you.button('Cancel this change').click());
    await you.arrive('email-change/cancel (cancelled)', [
      [you.text('The change was cancelled. Your email address stays as it is.'), 'the notice that it was cancelled'],
      [you.link('Change your password'), 'link "Change your password"'],
    ]);
    await shoot('email-change-cancelled');
  }));
