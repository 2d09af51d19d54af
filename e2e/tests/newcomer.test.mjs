// Issue item 1: someone new starts `gatehouse demo` and signs in with the account it prints,
// from the e-mail step to "You're signed in", with axe run on every page on the way.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';

const env = useGatehouse({ label: 'newcomer', command: 'demo' });

test('a newcomer signs in to the demo with the printed account and is shown a backup code to save', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    const { email, password } = env.server.demoAccount;
    assert.equal(email, 'demo@example.com', 'demo prints the demo account’s e-mail');

    await you.openSignIn();
    await you.submitEmail(email);
    await you.submitPassword(password);

    await you.expectCodePage(email); // "We sent a code to d•••@example.com"
    const { code, message } = await env.mail.nextCode(email);
    assert.equal(message.from, 'gatehouse@localhost', 'the code comes from GATEHOUSE_MAIL_FROM');
    await you.submitCode(code);

    await you.expectSaveBackupCodePage();
    await you.confirmBackupCodeSaved();
    await you.expectAccountPage(email);

    assert.deepEqual(you.audit.pagesChecked, [
      'sign-in',
      'sign-in/password',
      'sign-in/code',
      'sign-in/save-backup-code',
      'account',
    ]);
  }));
