// Issue item 3: a saved backup code replaces the e-mailed code once (S24): typed in lower case
// without dashes (S20), it signs in, a notice is mailed, and the next code is shown to save.
// Used once, it is refused the next time (S23).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { carriesCode } from '../lib/mail.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const erin = { email: 'erin@example.com', password: 'copper-kettle-meadow-58' };
const env = useGatehouse({ label: 'backup-code', accounts: [erin] });

const compact = (code) => code.replaceAll('-', '').toLowerCase();

test('a backup code signs in once instead of the e-mailed code, and the next one is issued', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you) => {
    const firstBackupCode = await signInForTheFirstTime(you, env.mail, erin);
    await you.signOut();

    const since = env.mail.mark();
    await you.signIn(erin);
    await you.expectCodePage(erin.email);
    await you.useBackupCode();
    await you.submitBackupCode(compact(firstBackupCode));

    const nextBackupCode = await you.expectSaveBackupCodePage('sign-in/save-backup-code (after using one)');
    assert.notEqual(nextBackupCode, firstBackupCode, 'the next backup code must be a new one');
    await you.confirmBackupCodeSaved();
    // Issue 12: a backup-code sign-in is reviewed before it goes on.
    await you.expectBackupCodeReviewPage(erin.email);
    await you.everythingLooksRight();
    await you.expectAccountPage(erin.email);

    const notice = await env.mail.waitFor(erin.email, (m) => /backup code was used/i.test(m.subject), { since });
    assert.equal(carriesCode(notice), false, 'the notice carries no code');
    for (const code of [firstBackupCode, nextBackupCode]) {
      const body = compact(`${notice.text}\n${notice.html}`);
      assert.ok(!body.includes(compact(code)), `backup code ${code} must never be e-mailed (S21)`);
    }

    await you.signOut();
    await you.signIn(erin);
    await you.expectCodePage(erin.email);
    await you.useBackupCode();
    await you.submitBackupCode(firstBackupCode);
    await you.expectBackupCodeRefused('sign-in/backup-code (used code refused)');
  }));
