// The sign-in pages as a person meets them (DESIGN.md §1), found only by their visible names:
// headings, labels, buttons, links and text. The exceptions are <code id="backup-code"> and
// <code id="totp-secret">, which the design names. Every `expect…Page` waits for the page,
// checks what it must show and runs axe on it; every action that submits or follows a link
// waits for the next page to load.

import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { totpCode } from './totp.mjs';

export const TRUST_HELP =
  "Skip verification codes on this computer and browser for 30 days. Don't use this on a shared computer.";

// The longest pause between resends this suite will wait out.
const MAX_RESEND_WAIT_S = 45;

// 24 characters of Crockford base32 (no I, L, O, U), upper case, in six groups of four (S20).
export const BACKUP_CODE_FORMAT = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$/;

// The authenticator app's key for typing in by hand: RFC 4648 base32, upper case, in groups of
// four separated by spaces.
export const AUTHENTICATOR_KEY_FORMAT = /^[A-Z2-7]{4}( [A-Z2-7]{4})+$/;

export const AUTHENTICATOR_ADDED =
  'Your authenticator app is set up. Signing in now asks for its code.';

export const PASSWORD_RESET_SENT =
  'If an account exists for that address, we sent it a link to reset the password. The link is valid for 60 minutes.';
export const PASSWORD_RESET_DONE = 'Your password was reset. Sign in with your new password.';
export const ACCOUNT_CREATED = 'Your account is ready. Sign in to finish setting it up.';
export const EMAIL_CHANGED = 'Your email address was changed. We told your old address too.';
export const NEW_BACKUP_CODE_ACTIVE = 'Your new backup code is active. The old one no longer works.';
export const PASSWORD_CHANGED = 'Your password was changed. Your other sessions were signed out.';

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

  // 7. Setting up an authenticator app (from the account page, after a recent sign-in)

  /** From "You're signed in": "Set up an authenticator app". Returns the key the page shows. */
  async startAuthenticatorSetup() {
    await this.expectVisible(this.heading('Authenticator app'), 'account: heading "Authenticator app"');
    await this.navigate(() => this.button('Set up an authenticator app').click());
    return this.expectAuthenticatorSetupPage();
  }

  /** Checks the page and returns the key for manual entry, as shown (groups of four). */
  async expectAuthenticatorSetupPage(state = 'account/authenticator') {
    const qrCode = this.page.getByRole('img', { name: 'QR code for your authenticator app', exact: true });
    const key = this.page.locator('#totp-secret');
    await this.arrive(state, [
      [this.heading('Set up an authenticator app'), 'heading "Set up an authenticator app"'],
      [qrCode, 'the QR code (role "img", "QR code for your authenticator app")'],
      [key, '<code id="totp-secret">'],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
    ]);
    assert.equal(new URL(this.page.url()).pathname, '/account/authenticator', 'the setup page is /account/authenticator');
    assert.equal(await qrCode.evaluate((el) => el.tagName.toLowerCase()), 'svg', 'the QR code is an inline <svg>');
    assert.equal(await key.evaluate((el) => el.tagName), 'CODE', '#totp-secret must be a <code> element');
    const shown = (await key.textContent()).trim();
    assert.match(shown, AUTHENTICATOR_KEY_FORMAT, 'the key must be base32 in groups of four separated by spaces');
    return shown;
  }

  /** Types the app's code on the setup page and presses "Verify". */
  async confirmAuthenticatorSetup(code) {
    await this.field('Verification code').fill(code);
    await this.navigate(() => this.button('Verify').click());
  }

  /** Back on "You're signed in", told the app is set up, with the button to remove it. */
  async expectAuthenticatorAdded(email, state = 'account (authenticator app set up)') {
    await this.arrive(state, [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(email), `the address "${email}"`],
      [this.text(AUTHENTICATOR_ADDED), `the notice "${AUTHENTICATOR_ADDED}"`],
      [this.button('Remove authenticator app'), 'button "Remove authenticator app"'],
    ]);
    assert.equal(
      await this.button('Set up an authenticator app').count(),
      0,
      'once an app is set up, "Set up an authenticator app" is no longer offered',
    );
  }

  // 8. Signing in with an authenticator app: its code instead of an e-mailed one

  async expectAuthenticatorCodePage(state = 'sign-in/code (authenticator app)') {
    const trust = this.page.getByRole('checkbox', { name: 'Trust this device', exact: true });
    await this.arrive(state, [
      [this.heading('Enter the code from your authenticator app'), 'heading "Enter the code from your authenticator app"'],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
      [trust, 'checkbox "Trust this device"'],
      [this.link('Use a backup code'), 'link "Use a backup code"'],
      [this.link('Try another way'), 'link "Try another way"'],
    ]);
    assert.equal(await trust.isChecked(), false, '"Trust this device" must be off by default (S28)');
    assert.equal(await this.button('Resend code').count(), 0, 'no "Resend code": nothing is e-mailed');
    assert.equal(await this.heading('Check your email').count(), 0, 'not the e-mailed code page');
  }

  async expectAuthenticatorCodeRefused(state = 'sign-in/code (authenticator app, code refused)') {
    await this.arrive(state, [
      [this.heading('Enter the code from your authenticator app'), 'heading "Enter the code from your authenticator app"'],
      [this.text('That code is incorrect'), 'the text "That code is incorrect"'],
    ]);
    assert.equal(await this.heading("You're signed in").count(), 0, 'a refused code must not sign in');
  }

  async tryAnotherWay() {
    await this.navigate(() => this.link('Try another way').click());
    await this.expectAnotherWayPage();
  }

  async expectAnotherWayPage(state = 'sign-in/another-way') {
    await this.arrive(state, [
      [this.heading('Try another way'), 'heading "Try another way"'],
      [this.link('Use your authenticator app'), 'link "Use your authenticator app"'],
      [this.link('Use a backup code'), 'link "Use a backup code"'],
    ]);
    assert.equal(new URL(this.page.url()).pathname, '/sign-in/another-way', '"Try another way" is /sign-in/another-way');
  }

  async useAuthenticatorApp() {
    await this.navigate(() => this.link('Use your authenticator app').click());
    await this.expectAuthenticatorCodePage('sign-in/code (authenticator app, from "Try another way")');
  }

  // 9. A phone for texted codes (from the account page, after a recent sign-in)

  /** From "You're signed in": types the number under "Phone" and presses "Add phone". */
  async addPhone(number) {
    const field = this.field('Phone number');
    await this.expectVisible(this.heading('Phone'), 'account: heading "Phone"');
    await this.expectVisible(field, 'account: field "Phone number"');
    assert.equal(await field.getAttribute('type'), 'tel', 'the "Phone number" field is type="tel"');
    await field.fill(number);
    await this.navigate(() => this.button('Add phone').click());
  }

  /** "Verify your phone", naming the number as the pages show it ("•••• 0123"). */
  async expectVerifyPhonePage(maskedNumber, state = 'account/phone') {
    await this.arrive(state, [
      [this.heading('Verify your phone'), 'heading "Verify your phone"'],
      [this.text(`We texted a code to ${maskedNumber}`), `the text "We texted a code to ${maskedNumber}"`],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
    ]);
    assert.equal(new URL(this.page.url()).pathname, '/account/phone', 'the phone is verified on /account/phone');
  }

  /** Types the texted code on "Verify your phone" and presses "Verify". */
  async confirmPhone(code) {
    await this.field('Verification code').fill(code);
    await this.navigate(() => this.button('Verify').click());
  }

  /** Back on "You're signed in", told the phone is verified, with the button to remove it. */
  async expectPhoneAdded(email, state = 'account (phone verified)') {
    const notice = 'Your phone is verified. Signing in now texts it a code.';
    await this.arrive(state, [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(email), `the address "${email}"`],
      [this.text(notice), `the notice "${notice}"`],
      [this.button('Remove phone'), 'button "Remove phone"'],
    ]);
    assert.equal(await this.button('Add phone').count(), 0, 'once a phone is verified, "Add phone" is no longer offered');
  }

  // 10. Signing in with a verified phone: a texted code instead of an e-mailed one

  async expectPhoneCodePage(maskedNumber, state = 'sign-in/code (texted)') {
    const trust = this.page.getByRole('checkbox', { name: 'Trust this device', exact: true });
    await this.arrive(state, [
      [this.heading('Check your phone'), 'heading "Check your phone"'],
      [this.text(`We texted a code to ${maskedNumber}`), `the text "We texted a code to ${maskedNumber}"`],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
      [this.button('Resend code'), 'button "Resend code"'],
      [trust, 'checkbox "Trust this device"'],
      [this.link('Use a backup code'), 'link "Use a backup code"'],
    ]);
    assert.equal(await trust.isChecked(), false, '"Trust this device" must be off by default (S28)');
    assert.equal(await this.heading('Check your email').count(), 0, 'not the e-mailed code page');
  }

  // 11. Trusted devices, on the account page

  /**
   * The devices listed under "Trusted devices", as { browser, trustedAt, revokeName }: each
   * one's browser and system ("Chrome on Linux") and its "Revoke" button's accessible name
   * ("Revoke Chrome on Linux, trusted …"). Also checks the account page's other sections.
   */
  async trustedDevices(state = 'account (trusted devices)') {
    const section = this.page.getByRole('region', { name: 'Trusted devices', exact: true });
    await this.arrive(state, [
      [this.heading('Trusted devices'), 'heading "Trusted devices"'],
      [section, 'the section "Trusted devices"'],
      [this.heading("Where you're signed in"), `heading "Where you're signed in"`],
      [this.heading('Recent security activity'), 'heading "Recent security activity"'],
    ]);
    const devices = [];
    for (const button of await section.getByRole('button', { name: /^Revoke .+, trusted .+$/ }).all()) {
      const revokeName = await button.evaluate((el) => el.getAttribute('aria-label') ?? el.textContent.trim());
      const [, browser, trustedAt] = revokeName.match(/^Revoke (.+), trusted (.+)$/);
      assert.equal((await button.innerText()).trim(), 'Revoke', `the button for ${browser} reads "Revoke"`);
      await this.expectVisible(section.getByText(browser, { exact: true }).first(), `${state}: the device "${browser}"`);
      devices.push({ browser, trustedAt, revokeName });
    }
    if (devices.length) {
      await this.expectVisible(this.button('Revoke all devices'), `${state}: button "Revoke all devices"`);
    }
    return devices;
  }

  /** Presses the "Revoke" button named `revokeName`; back on the account page with the notice. */
  async revokeTrustedDevice(revokeName, email) {
    const notice = 'That device will be asked for a code next time.';
    await this.navigate(() => this.button(revokeName).click());
    await this.arrive('account (device revoked)', [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(email), `the address "${email}"`],
      [this.text(notice), `the notice "${notice}"`],
    ]);
    assert.equal(new URL(this.page.url()).pathname, '/account', 'revoking returns to /account');
  }

  /** Asserts the page's path, for pages the design places at a given address. */
  expectPath(pathname, what) {
    assert.equal(new URL(this.page.url()).pathname, pathname, `${what} is ${pathname}`);
  }

  // 12. A forgotten password: a link e-mailed from "Forgot password?", valid for 60 minutes

  /** From the password page: "Forgot password?". */
  async forgotPassword() {
    await this.navigate(() => this.link('Forgot password?').click());
    await this.expectForgotPasswordPage();
  }

  async expectForgotPasswordPage(state = 'forgot-password') {
    await this.arrive(state, [
      [this.heading('Reset your password'), 'heading "Reset your password"'],
      [this.field('Email'), 'field "Email"'],
      [this.button('Send reset link'), 'button "Send reset link"'],
    ]);
    this.expectPath('/forgot-password', '"Reset your password"');
  }

  /** Types the address and presses "Send reset link"; the page then says what happens next. */
  async requestPasswordReset(email) {
    await this.field('Email').fill(email);
    await this.navigate(() => this.button('Send reset link').click());
    await this.arrive('forgot-password (link sent)', [[this.text(PASSWORD_RESET_SENT), `the notice "${PASSWORD_RESET_SENT}"`]]);
  }

  /** Opens the link from the e-mail. */
  async openResetLink(url) {
    await this.page.goto(url);
  }

  async expectResetPasswordPage(state = 'reset-password') {
    await this.arrive(state, [
      [this.heading('Choose a new password'), 'heading "Choose a new password"'],
      [this.field('New password'), 'field "New password"'],
      [this.button('Reset password'), 'button "Reset password"'],
    ]);
    this.expectPath('/reset-password', '"Choose a new password"');
  }

  /** Types the new password and presses "Reset password"; back on "Sign in", with the notice. */
  async resetPassword(newPassword) {
    await this.field('New password').fill(newPassword);
    await this.navigate(() => this.button('Reset password').click());
    await this.expectSignInNotice(PASSWORD_RESET_DONE, 'sign-in (after the password reset)');
  }

  /** The link, opened again, is refused and offers no form. */
  async expectResetLinkRefused(state = 'reset-password (link already used)') {
    const refusal = 'This reset link has expired or was already used';
    await this.arrive(state, [[this.text(refusal), `the text "${refusal}"`]]);
    assert.equal(await this.field('New password').count(), 0, 'a used reset link must not offer "New password"');
  }

  /** "Sign in" with a notice above the form. */
  async expectSignInNotice(notice, state) {
    await this.arrive(state, [
      [this.heading('Sign in'), 'heading "Sign in"'],
      [this.text(notice), `the notice "${notice}"`],
      [this.field('Email'), 'field "Email"'],
      [this.button('Next'), 'button "Next"'],
    ]);
  }

  // 13. Creating an account (when GATEHOUSE_ALLOW_SIGN_UP=true)

  /** From "Sign in": "Create account". */
  async createAccount() {
    await this.navigate(() => this.link('Create account').click());
    await this.expectSignUpPage();
  }

  async expectSignUpPage(state = 'sign-up') {
    await this.arrive(state, [
      [this.heading('Create account'), 'heading "Create account"'],
      [this.field('Email'), 'field "Email"'],
      [this.field('Password'), 'field "Password"'],
      [this.button('Create account'), 'button "Create account"'],
    ]);
    this.expectPath('/sign-up', '"Create account"');
  }

  async submitSignUp({ email, password }) {
    await this.field('Email').fill(email);
    await this.field('Password').fill(password);
    await this.navigate(() => this.button('Create account').click());
    await this.expectSignUpVerifyPage();
  }

  async expectSignUpVerifyPage(state = 'sign-up/verify') {
    await this.arrive(state, [
      [this.heading('Check your email'), 'heading "Check your email"'],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
    ]);
    this.expectPath('/sign-up/verify', 'the sign-up\'s "Check your email"');
  }

  /** Types the e-mailed code and presses "Verify"; back on "Sign in", with the notice. */
  async confirmSignUp(code) {
    await this.field('Verification code').fill(code);
    await this.navigate(() => this.button('Verify').click());
    await this.expectSignInNotice(ACCOUNT_CREATED, 'sign-in (account created)');
  }

  // 14. The address, the backup code and the password, changed from the account page (after a
  // recent sign-in)

  /** From "You're signed in": under "Email address", types the new one, presses "Change email". */
  async changeEmail(newEmail) {
    const section = this.page.getByRole('region', { name: 'Email address', exact: true });
    await this.expectVisible(section, 'account: the section "Email address"');
    const field = section.getByLabel('New email address', { exact: true });
    await this.expectVisible(field, 'account: field "New email address"');
    await field.fill(newEmail);
    await this.navigate(() => section.getByRole('button', { name: 'Change email', exact: true }).click());
    await this.expectConfirmNewEmailPage();
  }

  async expectConfirmNewEmailPage(state = 'account/email') {
    await this.arrive(state, [
      [this.heading('Confirm your new email address'), 'heading "Confirm your new email address"'],
      [this.field('Verification code'), 'field "Verification code"'],
      [this.button('Verify'), 'button "Verify"'],
    ]);
    this.expectPath('/account/email', '"Confirm your new email address"');
  }

  /** Types the code mailed to the new address and presses "Verify". */
  async confirmNewEmail(code) {
    await this.field('Verification code').fill(code);
    await this.navigate(() => this.button('Verify').click());
  }

  /** Back on "You're signed in", told the address changed, showing the new one. */
  async expectEmailChanged(newEmail, state = 'account (email address changed)') {
    await this.arrive(state, [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(EMAIL_CHANGED), `the notice "${EMAIL_CHANGED}"`],
      [this.text(newEmail), `the new address "${newEmail}"`],
    ]);
    this.expectPath('/account', 'the page after changing the address');
  }

  /** From "You're signed in": under "Backup code", "Generate a new backup code". Returns it. */
  async generateNewBackupCode() {
    const section = this.page.getByRole('region', { name: 'Backup code', exact: true });
    await this.expectVisible(section, 'account: the section "Backup code"');
    await this.navigate(() => section.getByRole('button', { name: 'Generate a new backup code', exact: true }).click());
    const code = await this.expectSaveBackupCodePage('account/backup-code');
    this.expectPath('/account/backup-code', 'the new backup code\'s "Save your backup code"');
    return code;
  }

  /** After "I have saved this code for future use": back on "You're signed in", with the notice. */
  async expectNewBackupCodeActive(email, state = 'account (new backup code)') {
    await this.arrive(state, [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(email), `the address "${email}"`],
      [this.text(NEW_BACKUP_CODE_ACTIVE), `the notice "${NEW_BACKUP_CODE_ACTIVE}"`],
    ]);
  }

  /** From "You're signed in": under "Change password", both passwords, then "Change password". */
  async changePassword(currentPassword, newPassword) {
    const section = this.page.getByRole('region', { name: 'Change password', exact: true });
    await this.expectVisible(section, 'account: the section "Change password"');
    await section.getByLabel('Current password', { exact: true }).fill(currentPassword);
    await section.getByLabel('New password', { exact: true }).fill(newPassword);
    await this.navigate(() => section.getByRole('button', { name: 'Change password', exact: true }).click());
  }

  async expectPasswordChanged(email, state = 'account (password changed)') {
    await this.arrive(state, [
      [this.heading("You're signed in"), `heading "You're signed in"`],
      [this.text(email), `the address "${email}"`],
      [this.text(PASSWORD_CHANGED), `the notice "${PASSWORD_CHANGED}"`],
    ]);
  }

  // 15. Products over OpenID Connect (docs/oidc-contract.md): the way back to a product, the
  // confirmation of a product's sign-out, the error page for a request Gatehouse cannot send
  // back, and the demo product that `gatehouse demo` serves.

  /**
   * Stops the first navigation to `origin` (a product) the page starts by itself, so that a
   * Gatehouse page that moves on unprompted ("Returning you to …", a meta refresh) stays up to
   * be checked and photographed; `goOn()` then waits until the page has tried to leave and
   * makes that same request. The stopped request fails as net::ERR_ABORTED, which leaves the
   * page as it is (holding the request instead would leave the page mid-navigation, where
   * Playwright can no longer read it). Playwright routes only the first request of a redirect
   * chain, so a plain redirect to the product is not stopped.
   */
  async stopFirstNavigationTo(origin, { timeoutMs = 10_000 } = {}) {
    let caught;
    const attempted = new Promise((resolve) => {
      caught = resolve;
    });
    let stopped;
    const matcher = (url) => url.origin === origin;
    const handler = async (route) => {
      const request = route.request();
      if (stopped || !request.isNavigationRequest() || request.frame() !== this.page.mainFrame()) {
        await route.continue().catch(() => {});
        return;
      }
      stopped = request.url();
      caught(stopped);
      await route.abort('aborted').catch(() => {});
    };
    await this.page.route(matcher, handler);
    const stop = () => this.page.unroute(matcher, handler).catch(() => {});
    return {
      stop,
      /** Where the page tried to go (once it has), and goes there; resolves when it loads. */
      goOn: async () => {
        try {
          if (new URL(this.page.url()).origin === origin) return this.page.url();
          const url = await new Promise((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`the page did not go on to ${origin} by itself within ${timeoutMs} ms`)),
              timeoutMs,
            );
            attempted.then((value) => {
              clearTimeout(timer);
              resolve(value);
            });
          });
          await stop();
          await this.page.goto(url);
          return url;
        } finally {
          await stop();
        }
      },
    };
  }

  /** "Returning you to NAME", the short page after a form that goes on to the product by itself. */
  async expectReturningPage(productName, state = 'oauth2 (returning you to the product)') {
    const text = `Returning you to ${productName}`;
    await this.arrive(state, [[this.text(text), `the text "${text}"`]]);
    assert.notEqual(new URL(this.page.url()).pathname, '/account', '"Returning you to …" is not the account page');
  }

  /**
   * The last step of a sign-in that a product asked for (pressing `button` on a form), then
   * "Returning you to NAME" (kept up while it is checked), then the product's page, at the URL
   * that page went on to by itself (returned). `onReturningPage(visitor)` runs while that page
   * is up (screenshots).
   */
  async returnToProduct(product, { button, link, onReturningPage } = {}) {
    const way = await this.stopFirstNavigationTo(product.origin);
    try {
      await this.navigate(() => (link ? this.link(link) : this.button(button)).click());
      await this.expectReturningPage(product.name);
      await onReturningPage?.(this);
    } catch (error) {
      await way.stop();
      throw error;
    }
    const url = await way.goOn();
    return url;
  }

  /** "Save your backup code" on the way back to a product: "I have saved…", then the way back. */
  async confirmBackupCodeSavedAndReturn(product, options = {}) {
    await this.returnToProduct(product, { button: 'I have saved this code for future use', ...options });
  }

  // 15. Issue 12: "Stop this sign-in" and the backup-code review

  /** The page a sign-in mail's "Stop this sign-in" link opens: one button, nothing changed yet. */
  async expectStopSignInPage(state = 'sign-in/stop') {
    await this.arrive(state, [
      [this.heading('Stop this sign-in'), 'heading "Stop this sign-in"'],
      [this.button('Stop this sign-in'), 'button "Stop this sign-in"'],
    ]);
  }

  async stopThisSignIn() {
    await this.navigate(() => this.button('Stop this sign-in').click());
  }

  /** After the button: someone knows the password; "Change your password" and the activity. */
  async expectSignInStopped(state = 'sign-in/stopped') {
    await this.arrive(state, [
      [this.heading('Sign-in stopped'), 'heading "Sign-in stopped"'],
      [this.text('Whoever started it knows your password.'), 'the text "Whoever started it knows your password."'],
      [this.link('Change your password'), 'link "Change your password"'],
      [this.link('See your recent activity'), 'link "See your recent activity"'],
    ]);
    this.expectPath('/sign-in/stopped', '"Sign-in stopped"');
  }

  /** "You signed in with your backup code": devices, sessions, activity, "Everything looks right". */
  async expectBackupCodeReviewPage(email, state = 'sign-in/review') {
    await this.arrive(state, [
      [this.heading('You signed in with your backup code'), 'heading "You signed in with your backup code"'],
      [this.text(email), `the address "${email}"`],
      [this.heading('Trusted devices'), 'heading "Trusted devices"'],
      [this.heading("Where you're signed in"), `heading "Where you're signed in"`],
      [this.heading('Recent security activity'), 'heading "Recent security activity"'],
      [this.link('Everything looks right'), 'link "Everything looks right"'],
    ]);
    this.expectPath('/sign-in/review', '"You signed in with your backup code"');
  }

  async everythingLooksRight() {
    await this.navigate(() => this.link('Everything looks right').click());
  }

  /** Gatehouse's confirmation of a product's sign-out: "Sign out", with the button "Sign out". */
  async expectProductSignOutPage(state = 'oauth2/logout') {
    await this.arrive(state, [
      [this.heading('Sign out'), 'heading "Sign out"'],
      [this.button('Sign out'), 'button "Sign out"'],
    ]);
    this.expectPath('/oauth2/logout', 'the sign-out confirmation');
  }

  /**
   * Presses "Sign out" on the confirmation and follows the browser back to `origin` (the
   * product's post-logout redirect URI). A Gatehouse page met on the way (the contract names
   * none) is checked with axe, and `onWayBackPage(visitor)` runs while it is up.
   */
  async confirmProductSignOut(origin, { state = 'oauth2/logout (on the way back)', onWayBackPage } = {}) {
    const way = await this.stopFirstNavigationTo(origin);
    try {
      await this.navigate(() => this.button('Sign out').click());
      if (new URL(this.page.url()).origin !== origin) {
        await this.audit.check(this.page, state);
        await onWayBackPage?.(this);
      }
    } catch (error) {
      await way.stop();
      throw error;
    }
    return way.goOn();
  }

  /**
   * The page for an authorization request Gatehouse must not send back (unknown client, a
   * redirect URI not registered): a page with a heading, on Gatehouse, not at the product.
   */
  async expectAuthorizationErrorPage(state = 'oauth2/authorize (error page)') {
    await this.arrive(state, [[this.page.getByRole('heading', { level: 1 }).first(), 'a main heading']]);
    this.expectPath('/oauth2/authorize', 'the authorization error page');
    assert.equal(
      await this.field('Email').count(),
      0,
      'the authorization error page must not offer to sign in (the request cannot be sent back)',
    );
  }

  // The demo product (served by `gatehouse demo`, so checked with axe like Gatehouse's pages)

  async openDemoProduct(productUrl) {
    await this.page.goto(productUrl);
    await this.expectDemoProductHome();
  }

  async expectDemoProductHome(state = 'demo product') {
    await this.arrive(state, [
      [this.heading('Demo product'), 'heading "Demo product"'],
      [this.button('Sign in with Gatehouse'), 'button "Sign in with Gatehouse"'],
    ]);
    assert.equal(
      await this.page.getByText('You are now signed in').count(),
      0,
      'the demo product\'s home must not say it is signed in',
    );
  }

  /** From the demo product's home: "Sign in with Gatehouse", to Gatehouse's "Sign in". */
  async signInWithGatehouse(state = 'sign-in (for Demo product)') {
    await this.navigate(() => this.button('Sign in with Gatehouse').click());
    await this.expectSignInPage(state);
    assert.equal(new URL(this.page.url()).origin, new URL(this.baseUrl).origin, '"Sign in" is Gatehouse\'s page');
  }

  async expectDemoProductSignedIn(email, state = 'demo product (signed in)') {
    const welcome = 'You are now signed in to Demo product and ready to work';
    const shown = this.page.locator('#email');
    await this.arrive(state, [
      [this.text(welcome), `the text "${welcome}"`],
      [shown, '<strong id="email">'],
      [this.button('Sign out'), 'button "Sign out"'],
    ]);
    assert.equal(await shown.evaluate((el) => el.tagName), 'STRONG', '#email must be a <strong> element');
    assert.equal((await shown.textContent()).trim(), email, 'the demo product shows the signed-in e-mail');
  }

  /** From the demo product, signed in: "Sign out", to Gatehouse's confirmation. */
  async signOutOfDemoProduct() {
    await this.navigate(() => this.button('Sign out').click());
    await this.expectProductSignOutPage();
  }

  // The test product (lib/product.mjs; ours, so not checked with axe)

  /** Waits for the test product's page after a sign-in; it must show "Signed in as EMAIL". */
  async expectTestProductSignedIn(product, email) {
    await this.page.waitForURL((url) => url.origin === product.origin, { waitUntil: 'load' });
    product.lastSignIn({ ok: true });
    await this.expectVisible(this.text(`Signed in as ${email}`), `${product.name}: the text "Signed in as ${email}"`);
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

/**
 * From "You're signed in" (after a recent sign-in): sets up an authenticator app with the key read
 * off the page and a code computed by oathtool, checks the notice e-mailed about it, and returns
 * { key, setUpCode, notice } (the key as shown, in groups of four; the code that confirmed it).
 */
export async function setUpAuthenticatorApp(you, mail, account) {
  const key = await you.startAuthenticatorSetup();
  const since = mail.mark();
  const setUpCode = totpCode(key);
  await you.confirmAuthenticatorSetup(setUpCode);
  await you.expectAuthenticatorAdded(account.email);
  const notice = await mail.waitFor(account.email, (m) => /authenticator app was added/i.test(m.subject), { since });
  return { key, setUpCode, notice };
}
