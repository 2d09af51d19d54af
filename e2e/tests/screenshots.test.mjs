// Every sign-in page, and the authenticator app's, at phone (390x844) and desktop (1280x800)
// sizes, saved under screenshots/ as artefacts for people to look at. The test itself only
// asserts that each page rendered.

import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';
import { signInForTheFirstTime } from '../lib/pages.mjs';
import { TIME_STEP_S, totpCode } from '../lib/totp.mjs';

const hana = { email: 'hana@example.com', password: 'silver-meadow-lantern-81' };
const ivy = { email: 'ivy@example.com', password: 'linen-beacon-quarry-19' };

const env = useGatehouse({ label: 'screenshots', accounts: [hana, ivy] });

/** `shoot(name)` saves the page at both sizes; sideways scrolling is reported, not failed. */
function shooter(t, page) {
  return async (name) => {
    const overflow = await screenshotAtBothSizes(page, name);
    for (const [size, px] of Object.entries(overflow)) {
      if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
    }
  };
}

test('every sign-in page renders at phone and desktop sizes', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);

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

test('the authenticator app pages render at phone and desktop sizes', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);

    await signInForTheFirstTime(you, env.mail, ivy);
    const key = await you.startAuthenticatorSetup();
    await shoot('account-authenticator');

    await you.confirmAuthenticatorSetup(totpCode(key));
    await you.expectAuthenticatorAdded(ivy.email);
    await shoot('account-authenticator-added');

    await you.signOut();
    await you.signIn(ivy);
    await you.expectAuthenticatorCodePage();
    await shoot('sign-in-code-authenticator');

    await you.tryAnotherWay();
    await shoot('sign-in-another-way');

    await you.useAuthenticatorApp();
    await you.submitCode(totpCode(key, { offsetSeconds: TIME_STEP_S }));
    await you.expectAccountPage(ivy.email, 'account (signed in with the authenticator app)');
  }));
