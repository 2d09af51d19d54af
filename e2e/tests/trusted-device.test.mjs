// Issue item 2: "Trust this device" skips the e-mailed code on this browser, never the
// password (S27); a browser without the trust cookie is asked for a code again (S30).

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { carriesCode } from '../lib/mail.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';

const dana = { email: 'dana@example.com', password: 'quiet-lantern-harbour-93' };
const env = useGatehouse({ label: 'trusted-device', accounts: [dana] });

// Long enough for a code mail that was wrongly sent to arrive on loopback.
const MAIL_GRACE_MS = 1_500;

test('a trusted browser is asked for the password but not for a code; a new browser is asked for a code', { timeout: 60_000 }, async (t) => {
  await withVisitor(env, t, async (you) => {
    await signInForTheFirstTime(you, env.mail, dana, { trustDevice: true });
    await you.signOut();

    const since = env.mail.mark();
    await you.openSignIn();
    await you.submitEmail(dana.email); // the password page: trust never skips the password
    await you.submitPassword(dana.password);
    await you.expectAccountPage(dana.email, 'account (trusted device, no code asked)');

    await sleep(MAIL_GRACE_MS);
    const codeMails = env.mail.received(dana.email, { since }).filter(carriesCode);
    assert.deepEqual(codeMails.map((m) => m.subject), [], 'no code may be e-mailed when the device is trusted');
  });

  await withVisitor(
    env,
    t,
    async (otherBrowser) => {
      const since = env.mail.mark();
      await otherBrowser.signIn(dana);
      await otherBrowser.expectCodePage(dana.email, 'sign-in/code (new browser)');
      await env.mail.nextCode(dana.email, { since });
    },
    { name: `${t.name} (new browser)` },
  );
});
