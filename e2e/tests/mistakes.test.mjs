// The mistakes people make on the way, and what the pages say: an unknown address and a wrong
// password get the same message (S46), "Not you?" goes back, a wrong code is refused, and
// "Resend code" mails a new code and kills the old one (S9).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';

const ivan = { email: 'ivan@example.com', password: 'granite-willow-beacon-35' };
const env = useGatehouse({ label: 'mistakes', accounts: [ivan] });

/** A six-digit code that is not `code`. */
const otherThan = (code) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

test('an unknown address and a wrong password get the same message; "Not you?" goes back', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const refusalText = async (email) =>
      (await page.evaluate(() => (document.querySelector('main') ?? document.body).innerText)).replaceAll(email, '<email>');

    await you.openSignIn();
    await you.submitEmail('nobody@example.com'); // any address goes on to the password step
    await you.submitPassword('not-the-password-1');
    await you.expectPasswordRefused('sign-in (unknown address refused)');
    const unknownAddressPage = await refusalText('nobody@example.com');

    await you.openSignIn();
    await you.submitEmail(ivan.email);
    await you.submitPassword('not-the-password-2');
    await you.expectPasswordRefused('sign-in (wrong password refused)');
    assert.equal(await refusalText(ivan.email), unknownAddressPage, 'the two refusals must read the same (S46)');

    await you.openSignIn();
    await you.submitEmail(ivan.email);
    await you.notYou();
  }));

// Up to 90 s: the server may ask for a pause of about 30 s before a resend.
test('a wrong code is refused; "Resend code" mails a new code and the old one stops working', { timeout: 90_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    const since = env.mail.mark();
    await you.signIn(ivan);
    await you.expectCodePage(ivan.email);
    const { code: firstCode } = await env.mail.nextCode(ivan.email, { since });

    await you.submitCode(otherThan(firstCode));
    await you.expectCodeRefused();

    const sinceResend = env.mail.mark();
    await you.resendCode();
    const { code: secondCode } = await env.mail.nextCode(ivan.email, { since: sinceResend });
    assert.notEqual(secondCode, firstCode, 'the resent code is a new one');

    await you.submitCode(firstCode);
    await you.expectCodeRefused('sign-in/code (old code after resend refused)');

    await you.submitCode(secondCode);
    await you.expectSaveBackupCodePage();
    await you.confirmBackupCodeSaved();
    await you.expectAccountPage(ivan.email);
  }));
