// The remaining pages: a forgotten password reset through the link "Forgot password?" e-mails
// (single use, 60 minutes), an account created with "Create account" (GATEHOUSE_ALLOW_SIGN_UP)
// and confirmed with an e-mailed code, and, on the account page right after signing in (changes
// need a sign-in from the last 10 minutes), a new e-mail address confirmed by a code sent to it,
// a new backup code and a new password. "Reset your password", "Choose a new password", "Create
// account", its "Check your email", "Confirm your new email address" and the account's "Save your
// backup code" are saved as screenshots at phone and desktop sizes.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { extractCode } from '../lib/mail.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const olga = { email: 'olga@example.com', password: 'saffron-quarry-lantern-24' };
const pablo = { email: 'pablo@example.com', password: 'thimble-orchard-harbor-83' };
const quinn = { email: 'quinn@example.com', password: 'juniper-beacon-ferry-69' }; // signs up

const env = useGatehouse({
  label: 'account-recovery',
  accounts: [olga, pablo],
  env: { GATEHOUSE_ALLOW_SIGN_UP: 'true' },
});

const RESET_SUBJECT = 'Reset your Gatehouse password';
const SIGN_UP_SUBJECT = 'Confirm your email address for Gatehouse';
const NEW_EMAIL_SUBJECT = 'Confirm your new email address for Gatehouse';

/** `shoot(name)` saves the page at both sizes; sideways scrolling is reported, not failed. */
function shooter(t, page) {
  return async (name) => {
    const overflow = await screenshotAtBothSizes(page, name);
    for (const [size, px] of Object.entries(overflow)) {
      if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
    }
  };
}

/** The one reset link in the message's plain-text part. */
function resetLinkIn(message) {
  const links = [...new Set(message.text.match(/https?:\/\/[^\s<>"]+\/reset-password\?token=[^\s<>"]+/g) ?? [])];
  assert.equal(links.length, 1, `expected one reset link in "${message.subject}", found ${links.length}:\n${message.text}`);
  return links[0];
}

test('"Forgot password?" e-mails a link that sets a new password once; signing in then still asks for the code', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    await signInForTheFirstTime(you, env.mail, olga); // someone who has signed in before
    await you.signOut();

    await you.openSignIn();
    await you.submitEmail(olga.email);
    await you.forgotPassword();
    await shoot('forgot-password');

    const since = env.mail.mark();
    await you.requestPasswordReset(olga.email);
    const message = await env.mail.waitFor(olga.email, (m) => m.subject === RESET_SUBJECT, { since });
    const link = resetLinkIn(message);
    assert.ok(
      link.startsWith(`${env.server.baseUrl}/reset-password?token=`),
      `the link points at this server (${env.server.baseUrl}/reset-password?token=…), it is ${link}`,
    );

    await you.openResetLink(link);
    await you.expectResetPasswordPage();
    await shoot('reset-password');

    const newPassword = 'copper-meadow-signal-51';
    await you.resetPassword(newPassword);

    await you.openResetLink(link); // single use
    await you.expectResetLinkRefused();

    await you.signIn(olga); // the old password no longer works
    await you.expectPasswordRefused('sign-in (old password after the reset refused)');

    const sinceSignIn = env.mail.mark();
    await you.signIn({ ...olga, password: newPassword });
    await you.expectCodePage(olga.email, 'sign-in/code (after the password reset)');
    const { code } = await env.mail.nextCode(olga.email, { since: sinceSignIn });
    await you.submitCode(code);
    await you.expectAccountPage(olga.email, 'account (signed in with the new password)');
  }));

test('"Create account" makes an account confirmed by an e-mailed code, and its first sign-in saves a backup code', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);

    await you.openSignIn();
    await you.createAccount();
    await shoot('sign-up');

    const since = env.mail.mark();
    await you.submitSignUp(quinn);
    await shoot('sign-up-verify');
    const message = await env.mail.waitFor(quinn.email, (m) => m.subject === SIGN_UP_SUBJECT, { since });
    await you.confirmSignUp(extractCode(message));

    await signInForTheFirstTime(you, env.mail, quinn); // e-mailed code, "Save your backup code"
  }));

test('right after signing in, the address, the backup code and the password are changed on the account page', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const firstBackupCode = await signInForTheFirstTime(you, env.mail, pablo);

    const newEmail = 'pablo.new@example.com';
    const since = env.mail.mark();
    await you.changeEmail(newEmail);
    await shoot('account-email-verify');
    const message = await env.mail.waitFor(newEmail, (m) => m.subject === NEW_EMAIL_SUBJECT, { since });
    await you.confirmNewEmail(extractCode(message));
    await you.expectEmailChanged(newEmail);

    const newBackupCode = await you.generateNewBackupCode();
    assert.notEqual(newBackupCode, firstBackupCode, 'the new backup code must be a new one');
    await shoot('account-new-backup-code');
    await you.confirmBackupCodeSaved();
    await you.expectNewBackupCodeActive(newEmail);

    await you.changePassword(pablo.password, 'walnut-harbor-glimmer-38');
    await you.expectPasswordChanged(newEmail);
  }));
