// Issue item 4 (OpenID Connect), from the front door: `gatehouse demo` also serves a demo
// product. From its home page "Sign in with Gatehouse" leads through Gatehouse's sign-in (the
// e-mailed code, the first backup code to save), the short "Returning you to Demo product" page,
// and back to the product, signed in. Its "Sign out" asks Gatehouse to confirm and comes back to
// the product's home. Signing in again (the Gatehouse session is gone) with the backup code saved
// the first time shows the next one to save, then returns to the product. Axe runs on every page
// on the way (the demo product's too: `gatehouse demo` serves it), and the new pages are saved
// as screenshots.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenshotAtBothSizes } from '../lib/browser.mjs';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';

const env = useGatehouse({ label: 'oidc-demo-product', command: 'demo' });

const compact = (code) => code.replaceAll('-', '').toLowerCase();

/** `shoot(name)` saves the page at both sizes; sideways scrolling is reported, not failed. */
function shooter(t, page) {
  return async (name) => {
    const overflow = await screenshotAtBothSizes(page, name);
    for (const [size, px] of Object.entries(overflow)) {
      if (px > 0) t.diagnostic(`${name}: scrolls sideways by ${px}px at ${size} size`);
    }
  };
}

test('the demo product signs in through Gatehouse, signs out with a confirmation, and signs in again with the backup code', { timeout: 90_000 }, (t) =>
  withVisitor(env, t, async (you, { page }) => {
    const shoot = shooter(t, page);
    const { email, password } = env.server.demoAccount;
    assert.equal(email, 'demo@example.com', 'demo prints the demo account’s e-mail');
    assert.ok(env.server.productUrl, 'demo prints "demo product at http://ADDR"');
    const product = { name: 'Demo product', origin: new URL(env.server.productUrl).origin };
    assert.notEqual(product.origin, new URL(env.server.baseUrl).origin, 'the demo product has its own address');

    // The first journey: the e-mailed code, then the first backup code to save.
    await you.openDemoProduct(env.server.productUrl);
    await shoot('demo-product');
    await you.signInWithGatehouse();
    await you.submitEmail(email);
    let since = env.mail.mark();
    await you.submitPassword(password);
    await you.expectCodePage(email);
    const { code } = await env.mail.nextCode(email, { since });
    await you.submitCode(code);
    const backupCode = await you.expectSaveBackupCodePage();
    await you.confirmBackupCodeSavedAndReturn(product, {
      onReturningPage: () => shoot('oidc-returning'),
    });
    await you.expectDemoProductSignedIn(email);
    await shoot('demo-product-signed-in');

    // Signing out of the product asks Gatehouse to confirm, then comes back to its home.
    await you.signOutOfDemoProduct();
    await shoot('oidc-sign-out');
    await you.confirmProductSignOut(product.origin, {
      onWayBackPage: async () => {
        t.diagnostic(`on the way back from signing out: ${(await page.locator('main').innerText()).replace(/\s+/g, ' ')}`);
        await shoot('oidc-signed-out-returning');
      },
    });
    await you.expectDemoProductHome('demo product (after signing out)');

    // The second journey: Gatehouse asks for the password again (its session ended with the
    // sign-out), and the backup code saved above stands in for the e-mailed code.
    await you.signInWithGatehouse('sign-in (for Demo product, after signing out)');
    await you.submitEmail(email);
    since = env.mail.mark();
    await you.submitPassword(password);
    await you.expectCodePage(email, 'sign-in/code (second time)');
    await you.useBackupCode();
    await you.submitBackupCode(compact(backupCode));
    const nextBackupCode = await you.expectSaveBackupCodePage('sign-in/save-backup-code (after using one)');
    assert.notEqual(nextBackupCode, backupCode, 'the next backup code must be a new one');
    await you.confirmBackupCodeSaved();
    // Issue 12: the backup-code sign-in is reviewed, then "Everything looks right" goes on.
    await you.expectBackupCodeReviewPage(email, 'sign-in/review (on the way to the product)');
    await you.returnToProduct(product, { link: 'Everything looks right' });
    await you.expectDemoProductSignedIn(email, 'demo product (signed in with the backup code)');
    await env.mail.waitFor(email, (m) => /backup code was used/i.test(m.subject), { since });

    // A Gatehouse page between the confirmation and the product is allowed (the contract names
    // none; it is checked with axe, reported above and photographed).
    const wayBack = you.audit.pagesChecked.filter((name) => name.endsWith('(on the way back)'));
    const productPages = you.audit.pagesChecked.filter((name) => !name.startsWith('sign-in') && !wayBack.includes(name));
    assert.deepEqual(productPages, [
      'demo product',
      'oauth2 (returning you to the product)',
      'demo product (signed in)',
      'oauth2/logout',
      'demo product (after signing out)',
      'oauth2 (returning you to the product)',
      'demo product (signed in with the backup code)',
    ]);
  }));
