// Authenticator app codes (TOTP, RFC 6238) computed by an implementation Gatehouse did not
// write: `oathtool` from Debian (apt package `oathtool`), run as
// `oathtool --totp -b SECRET -N @UNIXSECONDS`. The suite never computes a code itself.

import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export const OATHTOOL = process.env.OATHTOOL_PATH ?? '/usr/bin/oathtool';

// One TOTP time step (RFC 6238's default, and the one Gatehouse uses).
export const TIME_STEP_S = 30;

const OATHTOOL_TIMEOUT_MS = 5_000;

/** Throws a clear error when oathtool is not installed. */
export function assertOathtoolExists() {
  try {
    accessSync(OATHTOOL, constants.X_OK);
  } catch {
    throw new Error(
      `oathtool not found (or not executable) at ${OATHTOOL}; install Debian's package ` +
        '(apt-get install -y oathtool) or set OATHTOOL_PATH.',
    );
  }
}

/**
 * The six-digit code an authenticator app shows for `secret` (base32, spaces allowed, as the
 * setup page shows it) at `offsetSeconds` from now: `totpCode(secret, { offsetSeconds: 30 })` is
 * the next time step's code.
 */
export function totpCode(secret, { offsetSeconds = 0, now = Date.now() } = {}) {
  assertOathtoolExists();
  const key = secret.replace(/\s+/g, '');
  const at = Math.floor(now / 1_000) + offsetSeconds;
  let output;
  try {
    output = execFileSync(OATHTOOL, ['--totp', '-b', key, '-N', `@${at}`], {
      encoding: 'utf8',
      timeout: OATHTOOL_TIMEOUT_MS,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (error) {
    const stderr = error.stderr ? String(error.stderr).trim() : '';
    throw new Error(`oathtool --totp -b ${key} -N @${at} failed: ${stderr || error.message}`);
  }
  const code = output.trim();
  if (!/^\d{6}$/.test(code)) throw new Error(`oathtool printed ${JSON.stringify(output)}, not a six-digit code`);
  return code;
}
