// Per test file: an SMTP sink, optionally an SMS provider on loopback, a Gatehouse server with
// its own data folder (and accounts made with the CLI before it starts), one Chromium; all
// stopped after the file's tests (the server before the sinks it delivers to). Per test:
// a fresh browser context wrapped in a Visitor, whose axe findings are asserted at the end.

import { after, before } from 'node:test';
import { A11yAudit } from './a11y.mjs';
import { describePage, launchBrowser, newContext, saveFailureArtefacts } from './browser.mjs';
import { startMailServer } from './mail.mjs';
import { Visitor } from './pages.mjs';
import { addClient, addUser, assertBinaryExists, createDataDir, serverEnv, startServer } from './server.mjs';
import { startSmsProvider } from './sms.mjs';

const SET_UP_TIMEOUT_MS = 60_000;
const TEAR_DOWN_TIMEOUT_MS = 30_000;

/**
 * Registers before/after hooks; the returned object is filled in by `before`:
 * { server, mail, sms, browser, accounts, clients }.
 *
 * `clients` are registered with `gatehouse client add` before the server starts (see addClient
 * in lib/server.mjs for their fields). `products` (lib/product.mjs) are started first, registered
 * as clients the same way (after `clients`) and connected to the server once it runs; they stop
 * before it. `env.clients` holds what the CLI printed for each, clients then products. (One
 * `before` does it all: Node 20 runs a file's top-level `before` hooks side by side.)
 *
 * `sms: true` starts the loopback SMS provider (lib/sms.mjs) before the server and points the
 * server at it. `env` adds settings for the server process: an object, or a function given
 * { mail, sms } once they run (for settings that need their ports); it wins over the defaults.
 */
export function useGatehouse({
  label,
  command = 'serve',
  accounts = [],
  clients = [],
  products = [],
  sms = false,
  env: extraEnv = {},
}) {
  const env = { accounts, clients: [] };
  before(
    async () => {
      await assertBinaryExists();
      env.mail = await startMailServer();
      if (sms) env.sms = await startSmsProvider();
      const dataDir = await createDataDir();
      for (const account of accounts) await addUser({ dataDir, ...account });
      const extra = typeof extraEnv === 'function' ? extraEnv({ mail: env.mail, sms: env.sms }) : extraEnv;
      const settings = { ...env.sms?.serverEnv(), ...extra };
      for (const product of products) await product.start();
      const registered = [];
      for (const client of [...clients, ...products.map((product) => product.registration())]) {
        registered.push(await addClient({ dataDir, env: serverEnv({ smtpPort: env.mail.port, env: settings }), ...client }));
      }
      env.clients.push(...registered);
      env.server = await startServer({ command, dataDir, smtpPort: env.mail.port, label, env: settings });
      for (const [index, product] of products.entries()) {
        await product.connect({ issuer: env.server.baseUrl, client: registered[clients.length + index] });
      }
      env.browser = await launchBrowser();
    },
    { timeout: SET_UP_TIMEOUT_MS },
  );
  after(
    async () => {
      await env.browser?.close();
      for (const product of products) await product.stop();
      await env.server?.stop();
      await env.sms?.stop();
      await env.mail?.stop();
    },
    { timeout: TEAR_DOWN_TIMEOUT_MS },
  );
  return env;
}

/**
 * Runs `journey(visitor)` in a fresh browser context (no cookies). On failure the error gains
 * the page's URL and HTML, and a screenshot is kept in test-results/. When the journey succeeds,
 * every page it visited must have passed axe.
 */
export async function withVisitor(env, t, journey, { name = t.name, contextOptions } = {}) {
  const context = await newContext(env.browser, contextOptions);
  const page = await context.newPage();
  const audit = new A11yAudit();
  try {
    await journey(new Visitor(page, { baseUrl: env.server.baseUrl, audit }), { context, page });
  } catch (error) {
    // The original error keeps its stack (where the step failed) and gains the page's state.
    const saved = await saveFailureArtefacts(page, name);
    const a11y = audit.report();
    const serverGone = env.server.unexpectedExit();
    error.message +=
      (serverGone ? `\n\n*** the gatehouse server is gone: ${serverGone} ***` : '') +
      `\n\n--- page at failure${saved ? ` (saved as ${saved}.png/.html)` : ''} ---\n` +
      (await describePage(page)) +
      (a11y ? `\n\n--- accessibility violations on the pages before it ---\n${a11y}` : '');
    throw error;
  } finally {
    await context.close();
  }
  audit.assertClean();
}
