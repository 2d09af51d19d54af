// Accessibility: runs axe-core on a page and keeps what it found, so that a journey can walk to
// its end and then fail once with every violation on every page, printed for a person to read.
// Needs a context created with bypassCSP (the pages allow only script-src 'self').

import assert from 'node:assert/strict';
import axe from 'axe-core';

export class A11yAudit {
  #checked = [];

  /** Runs axe on the page as it is now; `pageName` says which page (and state) it was. */
  async check(page, pageName) {
    const hasAxe = await page.evaluate(() => typeof window.axe !== 'undefined');
    if (!hasAxe) await page.addScriptTag({ content: axe.source });
    const violations = await page.evaluate(async () => {
      const results = await window.axe.run(document, { resultTypes: ['violations'] });
      return results.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map((n) => ({ target: n.target.join(' '), html: n.html, summary: n.failureSummary })),
      }));
    });
    this.#checked.push({ pageName, url: page.url(), violations });
    return violations;
  }

  get pagesChecked() {
    return this.#checked.map((c) => c.pageName);
  }

  report() {
    return this.#checked
      .filter((c) => c.violations.length)
      .map((c) => formatViolations(c.pageName, c.url, c.violations))
      .join('\n\n');
  }

  assertClean() {
    const count = this.#checked.reduce((n, c) => n + c.violations.length, 0);
    assert.equal(count, 0, `axe found ${count} accessibility violation(s):\n\n${this.report()}`);
  }
}

export function formatViolations(pageName, url, violations) {
  const lines = [`[${pageName}] ${url}`];
  for (const v of violations) {
    lines.push(`  ${v.id} (${v.impact}): ${v.help}`, `    ${v.helpUrl}`);
    for (const node of v.nodes) {
      lines.push(`    - ${node.target}`, `      ${node.html}`);
      for (const line of (node.summary ?? '').split('\n')) lines.push(`        ${line}`);
    }
  }
  return lines.join('\n');
}
