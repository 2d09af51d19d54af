// Every sign-in page at phone (390x844) and desktop (1280x800) sizes, saved under screenshots/
// as artefacts for people to look at. The test itself only asserts that each page rendered.

import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';

const hana = { email: 'hana@example.com', password: 'silver-meadow-lantern-81' };
const env = useGatehouse({ label: 'screenshots', accounts: [hana] });

test('every sign-in page renders at phone and desktop sizes', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    // Sideways scrolling is reported, not failed: the pictures are for people to judge.
    const shoot = async (name) => {
      const overflow = await screenshotAtBothSizes(page, name);
      for (const [size, px] of Object.entries(overflow)) {
        if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
      }
    };

    await you.openSignIn();
    await shoot('sign-in');

    await you.submitEmail(hana.email);
    await shoot('sign-in-password');

    const since = env.mail.mark();
    await you.submitPassword(hana.password);
    await you.expectCodePage(hana.email);
    await shoot('sign-in-code');

    const { code } = await env.mail.nextCode(hana.email, { since });
    await you.submitCode(code);
    await you.expectSaveBackupCodePage();
    await shoot('sign-in-save-backup-code');

    await you.confirmBackupCodeSaved();
    await you.expectAccountPage(hana.email);
    await shoot('account');

    await you.signOut();
    await you.signIn(hana);
    await you.expectCodePage(hana.email);
    await you.useBackupCode();
    await shoot('sign-in-backup-code');
  }));
