// The "Save your backup code" page's comforts: "Download" gives a .txt attachment holding the
// code, and "Copy" puts the code on the clipboard.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { useGatehouse, withVisitor } from '../lib/harness.mjs';

const frank = { email: 'frank@example.com', password: 'amber-orchard-signal-27' };
const grace = { email: 'grace@example.com', password: 'violet-harbor-compass-64' };
const env = useGatehouse({ label: 'save-backup-code', accounts: [frank, grace] });

/** Signs in up to the "Save your backup code" page and returns the code it shows. */
async function reachSaveBackupCodePage(you, account) {
  const since = env.mail.mark();
  await you.signIn(account);
  await you.expectCodePage(account.email);
  const { code } = await env.mail.nextCode(account.email, { since });
  await you.submitCode(code);
  return you.expectSaveBackupCodePage();
}

/** The media type of a `data:` URL, or undefined. */
function dataUrlMediaType(href) {
  return href.startsWith('data:') ? href.slice(5).split(/[;,]/)[0] || 'text/plain' : undefined;
}

test('"Download" serves the backup code as a text/plain .txt attachment', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page, context }) => {
    const backupCode = await reachSaveBackupCodePage(you, frank);
    const download = you.link('Download');
    const href = await download.getAttribute('href');
    assert.ok(href, 'the "Download" link has an href');

    const [file] = await Promise.all([page.waitForEvent('download'), download.click()]);
    assert.match(file.suggestedFilename(), /\.txt$/, 'the download is a .txt file');
    const contents = await readFile(await file.path(), 'utf8');
    assert.ok(contents.includes(backupCode), `the file holds the code ${backupCode}; it holds:\n${contents}`);

    if (href.startsWith('data:')) {
      assert.equal(dataUrlMediaType(href), 'text/plain', 'the data: URL is text/plain');
      assert.notEqual(await download.getAttribute('download'), null, 'a data: link needs the download attribute');
    } else {
      // Chromium does not report a download's response headers; fetch it again, with this
      // browser's cookies, to read them.
      const again = await context.request.get(new URL(href, page.url()).href, { maxRedirects: 0 });
      assert.equal(again.status(), 200, 'the download link, fetched a second time with the same cookies, answers 200');
      assert.match(again.headers()['content-type'] ?? '', /^text\/plain\b/i, 'Content-Type is text/plain');
      assert.match(again.headers()['content-disposition'] ?? '', /^attachment\b/i, 'Content-Disposition is attachment');
    }

    // The page is still usable after downloading.
    await you.confirmBackupCodeSaved();
    await you.expectAccountPage(frank.email);
  }));

test('"Copy" puts the backup code on the clipboard', { timeout: 60_000 }, (t) =>
  withVisitor(env, t, async (you, { page, context }) => {
    const backupCode = await reachSaveBackupCodePage(you, grace);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(page.url()).origin });

    await you.button('Copy').click();
    let copied = '';
    for (let tries = 0; tries < 20 && copied.trim() !== backupCode; tries++) {
      copied = await page.evaluate(() => navigator.clipboard.readText());
      if (copied.trim() !== backupCode) await sleep(100);
    }
    assert.equal(copied.trim(), backupCode, 'the clipboard holds the code shown in #backup-code');

    await you.confirmBackupCodeSaved();
    await you.expectAccountPage(grace.email);
  }));
