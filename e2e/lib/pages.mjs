// The sign-in pages as a person meets them (DESIGN.md §1), found only by their visible names:
// headings, labels, buttons, links and text. The one exception is <code id="backup-code">,
// which the design names. Every `expect…Page` waits for the page, checks what it must show and
// runs axe on it; every action that submits or follows a link waits for the next page to load.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export const TRUST_HELP =
  "Skip verification codes on this computer and browser for 30 days. Don't use this on a shared computer.";

// The longest pause between resends this suite will wait out.
const MAX_RESEND_WAIT_S = 45;

// 24 characters of Crockford base32 (no I, L, O, U), upper case, in six groups of four (S20).
export const BACKUP_CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$/;

/** How the code page shows an address: first letter, three bullets, the domain. */
export function maskEmail(email) {
  const [local, domain] = email.split('@');
  return `${local[0]}•••@${domain}`;
}

export class Visitor {
  constructor(page, { baseUrl, audit }) {
    this.page = page;
    this.baseUrl = baseUrl;
    this.audit = audit;
  }

  heading(name) {
    return this.page.getByRole('heading', { name, exact: true });
  }
  field(label) {
    return this.page.getByLabel(label, { exact: true });
  }
  button(name) {
    return this.page.getByRole('button', { name, exact: true });
  }
  link(name) {
    return this.page.getByRole('link', { name, exact: true });
  }
  text(text) {
    return this.page.getByText(text).first();
  }

  async expectVisible(locator, what) {
    try {
      await locator.waitFor({ state: 'visible' });
    } catch (error) {
      throw new Error(`expected ${what} to be visible (${error.message.split('\n')[0]})`);
    }
  }

  /** Waits for each [locator, description] pair, then runs axe on the page. */
  async arrive(pageName, expectations) {
    for (const [locator, what] of expectations) await this.expectVisible(locator, `${pageName}: ${what}`);
    await this.audit.check(this.page, pageName);
  }

  /** Runs an action that leaves the page (a form submission, a link) and waits for the next one. */
  async navigate(action) {
    await Promise.all([this.page.waitForEvent('load'), action()]);
  }

  // 1. Email

  async openSignIn() {
    await this.page.goto(`${this.baseUrl}/sign-in`);
    await this.expectSignInPage();
  }

  async expectSignInPage(state = 'sign-in') {
    await this.arrive(state, [
      [this.heading('Sign in'), 'heading "Sign in"'],
      [this.field('Email'), 'field "Email"'],
      [this.button('Next'), 'button "Next"'],
    ]);
  }

  async submitEmail(email) {
    await this.field('Email').fill(email);
    await this.navigate(() => this.button('Next').click());
    await this.expectPasswordPage(email);
  }

  // 2. Password

  async expectPasswordPage(email, state = 'sign-in/password') {
    await this.arrive(state, [
      [this.text(email), `the address "${email}"`],
      [this.link('Not you?'), 'link "Not you?"'],
      [this.field('Password'), 'field "Password"'],
      [this.button('Sign in'), 'button "Sign in"'],
    ]);
  }

  /** Submits the password; where it leads depends on the account, so the caller checks. */
  async submitPassword(password) {
    await this.field('Password').fill(password);
    await this.navigate(() => this.button('Sign in').click());
  }

  /** Email, Next, Password, Sign in. */
  async signIn({ email, password }) {
    await this.openSignIn();
    await this.submitEmail(email);
    await this.submitPassword(password);
  }

  async expectPasswordRefused(state = 'sign-in (password refused)') {
    await this.arrive(state, [[this.text('Email or password is incorrect'), 'the text "Email or password is incorrect"']]);
  }

  async notYou() {
    await this.navigate(() => this.link('Not you?').click());
    await this.expectSignInPage('sign-in (after "Not you?")');
  }

  // 3. The e-mailed code

  async expectCodePage(email, state = 'sign-in/code') {
    const trust = this.page.getByRole('checkbox', { name: 'Trust this device', exact: true });
    await this.arrive(state, [
      [this.heading('Check your email'), 'heading "Check your email"'],
      [this.text(`We sent a code to ${maskEmail(email)}`), `the text "We sent a code to ${maskEmail(email)}"`],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
      [this.button('Resend code'), 'button "Resend code"'],
      [trust, 'checkbox "Trust this device"'],
      [this.text(TRUST_HELP), `the text "${TRUST_HELP}"`],
      [this.link('Use a backup code'), 'link "Use a backup code"'],
    ]);
    assert.equal(await trust.isChecked(), false, '"Trust this device" must be off by default (S28)');
  }

  async submitCode(code, { trustDevice = false } = {}) {
    await this.field('Verification code').fill(code);
    if (trustDevice) await this.page.getByRole('checkbox', { name: 'Trust this device', exact: true }).check();
    await this.navigate(() => this.button('Verify').click());
  }

  async expectCodeRefused(state = 'sign-in/code (code refused)') {
    await this.arrive(state, [
      [this.heading('Check your email'), 'heading "Check your email"'],
      [this.text('That code is incorrect'), 'the text "That code is incorrect"'],
    ]);
  }

  async resendCode() {
    await this.navigate(() => this.button('Resend code').click());
    // Resends may be spaced out (S9 limits them); the design names no wording, so a page that
    // asks to wait N seconds is waited out once, and anything else must be the notice.
    const wait = (await this.page.locator('main').innerText()).match(/wait (\d+) seconds?/i);
    if (wait && Number(wait[1]) <= MAX_RESEND_WAIT_S) {
      await sleep((Number(wait[1]) + 1) * 1_000);
      await this.navigate(() => this.button('Resend code').click());
    }
    await this.arrive('sign-in/code (after resend)', [
      [this.heading('Check your email'), 'heading "Check your email"'],
      [this.text('We sent a new code'), 'the text "We sent a new code"'],
    ]);
  }

  // 4. Backup code instead of the e-mailed code

  async useBackupCode() {
    await this.navigate(() => this.link('Use a backup code').click());
    await this.expectBackupCodePage();
  }

  async expectBackupCodePage(state = 'sign-in/backup-code') {
    await this.arrive(state, [
      [this.heading('Use a backup code'), 'heading "Use a backup code"'],
      [this.field('Backup code'), 'field "Backup code"'],
      [this.button('Verify'), 'button "Verify"'],
    ]);
  }

  async submitBackupCode(code) {
    await this.field('Backup code').fill(code);
    await this.navigate(() => this.button('Verify').click());
  }

  /** Still on the backup code page, with an error, and not signed in. */
  async expectBackupCodeRefused(state = 'sign-in/backup-code (code refused)') {
    // The design names no wording for this error; any of the usual ones will do.
    const error = this.page.getByText(/incorrect|invalid|not valid|already (been )?used|no longer/i).first();
    await this.arrive(state, [
      [this.heading('Use a backup code'), 'heading "Use a backup code"'],
      [error, 'an error message (incorrect, invalid, already used…)'],
    ]);
    assert.equal(await this.heading("You're signed in").count(), 0, 'a refused backup code must not sign in');
  }

  // 5. Save the new backup code

  /** Checks the page and returns the code it shows. */
  async expectSaveBackupCodePage(state = 'sign-in/save-backup-code') {
    const code = this.page.locator('#backup-code');
    await this.arrive(state, [
      [this.heading('Save your backup code'), 'heading "Save your backup code"'],
      [code, '<code id="backup-code">'],
      [this.link('Download'), 'link "Download"'],
      [this.button('Copy'), 'button "Copy"'],
      [this.button('I have saved this code for future use'), 'button "I have saved this code for future use"'],
    ]);
    assert.equal(await code.evaluate((el) => el.tagName), 'CODE', '#backup-code must be a <code> element');
    const shown = (await code.textContent()).trim();
    assert.match(shown, BACKUP_CODE_FORMAT, 'the backup code must be XXXX-XXXX-XXXX-XXXX-XXXX-XXXX in Crockford base32');
    return shown;
  }

  async confirmBackupCodeSaved() {
    await this.navigate(() => this.button('I have saved this code for future use').click());
  }

  // 6. Signed in

  async expectAccountPage(email, state = 'account') {
    await this.arrive(state, [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(email), `the address "${email}"`],
      [this.button('Sign out'), 'button "Sign out"'],
    ]);
  }

  async signOut() {
    await this.navigate(() => this.button('Sign out').click());
    await this.expectSignInPage('sign-in (after sign-out)');
  }
}

/**
 * A new account's first sign-in, start to end: password, e-mailed code, the first backup code
 * saved. Returns that backup code.
 */
export async function signInForTheFirstTime(you, mail, account, { trustDevice = false } = {}) {
  const since = mail.mark();
  await you.signIn(account);
  await you.expectCodePage(account.email);
  const { code } = await mail.nextCode(account.email, { since });
  await you.submitCode(code, { trustDevice });
  const backupCode = await you.expectSaveBackupCodePage();
  await you.confirmBackupCodeSaved();
  await you.expectAccountPage(account.email);
  return backupCode;
}
