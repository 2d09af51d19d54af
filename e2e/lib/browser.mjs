// Debian's Chromium driven by playwright-core (no downloaded browser): launch it, give each test
// a fresh context, and, when a step fails, keep a screenshot and the page's HTML and put the
// page's URL and main content into the error so the failure explains itself.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { E2E_DIR, RESULTS_DIR, withTimeout } from './server.mjs';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOTS_DIR = path.join(E2E_DIR, 'screenshots');
export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
};

const ACTION_TIMEOUT_MS = 10_000;
const DOCUMENTS_REMEMBERED = 4;
// A page stuck in a navigation can make evaluate() and screenshot() wait for ever.
const ARTEFACT_TIMEOUT_MS = 5_000;

// The last few documents each page loaded (method, URL, status), for error messages.
const documentsByPage = new WeakMap();

function rememberDocument(response) {
  const request = response.request();
  const frame = request.frame();
  const page = frame.page();
  if (!request.isNavigationRequest() || frame !== page.mainFrame()) return;
  const list = documentsByPage.get(page) ?? [];
  list.push(`${request.method()} ${response.url()} -> ${response.status()} ${response.statusText()}`);
  documentsByPage.set(page, list.slice(-DOCUMENTS_REMEMBERED));
}
const NAVIGATION_TIMEOUT_MS = 15_000;

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/** A context with no cookies: a new browser, as far as the server can tell. */
export async function newContext(browser, options = {}) {
  const context = await browser.newContext({
    viewport: VIEWPORTS.desktop,
    locale: 'en-US',
    acceptDownloads: true,
    // axe-core is injected as an inline script, which the pages' CSP forbids.
    bypassCSP: true,
    ...options,
  });
  context.on('response', (response) => {
    try {
      rememberDocument(response);
    } catch {
      // A response from a closed page or a worker: nothing to remember.
    }
  });
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(NAVIGATION_TIMEOUT_MS);
  return context;
}

function slug(text) {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 80);
}

/** URL, title and the main content's HTML (shortened), for error messages. */
export async function describePage(page, maxChars = 4_000) {
  try {
    const html = await withTimeout(
      page.evaluate(() => (document.querySelector('main') ?? document.body)?.outerHTML ?? ''),
      ARTEFACT_TIMEOUT_MS,
      'reading the page',
    );
    const shortened = html.length > maxChars ? `${html.slice(0, maxChars)}\n… (${html.length - maxChars} more characters)` : html;
    const documents = (documentsByPage.get(page) ?? []).map((d) => `  ${d}`).join('\n');
    const title = await withTimeout(page.title(), ARTEFACT_TIMEOUT_MS, 'reading the title');
    return `page: ${page.url()}\ntitle: ${title}\nlast documents loaded:\n${documents}\nhtml:\n${shortened}`;
  } catch (error) {
    return `page: ${page.url()} (content unavailable: ${error.message})`;
  }
}

/** Keeps a full-page screenshot and the HTML under test-results/, named after the test. */
export async function saveFailureArtefacts(page, testName) {
  try {
    await mkdir(RESULTS_DIR, { recursive: true });
    const base = path.join(RESULTS_DIR, slug(testName));
    await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: ARTEFACT_TIMEOUT_MS });
    await writeFile(`${base}.html`, await withTimeout(page.content(), ARTEFACT_TIMEOUT_MS, 'reading the page'));
    return base;
  } catch {
    return undefined;
  }
}

/**
 * Saves `screenshots/<name>-phone.png` and `screenshots/<name>-desktop.png` of the page as it is.
 * Returns, per size, how far the page scrolls sideways (0 when it fits).
 */
export async function screenshotAtBothSizes(page, name) {
  await mkdir(SCREENSHOTS_DIR, { recursive: true });
  const original = page.viewportSize();
  const overflow = {};
  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(viewport);
    await page.screenshot({ path: path.join(SCREENSHOTS_DIR, `${name}-${size}.png`), fullPage: true });
    overflow[size] = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  }
  if (original) await page.setViewportSize(original);
  return overflow;
}
