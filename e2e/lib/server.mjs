// Starts the real `gatehouse` binary for one test file: a fresh data folder, port 0, e-mail to
// the loopback SMTP sink. Reads the base URL (and, for `demo`, the demo account and the demo
// product's address) from what the process prints, and stops it with SIGTERM. Never shares a data
// folder between servers. Also runs the admin CLI against a data folder: `user add`, `client add`,
// and any other command (`runCli`).

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const RESULTS_DIR = path.join(E2E_DIR, 'test-results');
export const BINARY = process.env.GATEHOUSE_BIN
  ? path.resolve(process.env.GATEHOUSE_BIN)
  : path.resolve(E2E_DIR, '../target/debug/gatehouse');

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
const CLI_TIMEOUT_MS = 30_000;

// What the server prints once it is ready (DESIGN.md §4); demo also prints its account and
// where its demo product listens (docs/oidc-contract.md, "The demo product").
const LISTENING = /listening on (https?:\/\/[^\s"',]+)/;
const DEMO_PRODUCT = /demo product at (https?:\/\/[^\s"',]+)/;
const DEMO_EMAIL = /demo email:\s*"?([^\s"]+)"?/;
const DEMO_PASSWORD = /demo password:\s*"?([^\s"]+)"?/;
const ANSI = /\x1b\[[0-9;]*m/g;

// Children still running when Node exits (a crashed test) are killed rather than left behind.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export async function assertBinaryExists() {
  try {
    await access(BINARY, constants.X_OK);
  } catch {
    throw new Error(
      `gatehouse binary not found (or not executable) at ${BINARY}.\n` +
        'Build it with `cargo build -p gatehouse`, or point GATEHOUSE_BIN at it.',
    );
  }
}

export function createDataDir() {
  return mkdtemp(path.join(os.tmpdir(), 'gatehouse-e2e-'));
}

// The child sees only the GATEHOUSE_* settings we give it, never ones from the caller's shell.
function childEnv(dataDir, extra = {}) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('GATEHOUSE_')) env[key] = value;
  }
  return { ...env, NO_COLOR: '1', GATEHOUSE_DATA_DIR: dataDir, ...extra };
}

function spawnGatehouse(args, { dataDir, env }) {
  const child = spawn(BINARY, args, {
    cwd: dataDir,
    env: childEnv(dataDir, env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines = [];
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      lines.push(`e2e: ${new Date().toISOString()} the process exited (${signal ?? `code ${code}`})`);
      resolve({ code, signal });
    });
    child.on('error', (error) => {
      running.delete(child);
      resolve({ code: null, signal: null, error });
    });
  });
  const listeners = new Set();
  for (const [name, stream] of [['stdout', child.stdout], ['stderr', child.stderr]]) {
    readline.createInterface({ input: stream }).on('line', (raw) => {
      const line = raw.replace(ANSI, '');
      lines.push(`${name}: ${line}`);
      for (const listener of listeners) listener(line);
    });
  }
  return { child, exited, lines, listeners };
}

export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** `gatehouse user add --email E --password-stdin`, with the password on standard input. */
export async function addUser({ dataDir, email, password }) {
  const args = ['user', 'add', '--email', email, '--password-stdin'];
  const proc = spawnGatehouse(args, { dataDir });
  // No trailing newline: correct whether the CLI reads one line or all of stdin.
  proc.child.stdin.end(password);
  const { code, signal, error } = await withTimeout(proc.exited, CLI_TIMEOUT_MS, `gatehouse ${args.join(' ')}`);
  if (error || code !== 0) {
    throw new Error(
      `gatehouse ${args.join(' ')} failed (exit ${code ?? signal}${error ? `, ${error.message}` : ''}):\n` +
        proc.lines.join('\n'),
    );
  }
}

/**
 * The settings a server (and the CLI run against its data folder) gets: port 0, e-mail to the
 * loopback SMTP sink, plus `env`.
 */
export function serverEnv({ smtpPort, env = {} }) {
  return {
    GATEHOUSE_LISTEN: '127.0.0.1:0',
    GATEHOUSE_SMTP_URL: `smtp://127.0.0.1:${smtpPort}`,
    GATEHOUSE_MAIL_FROM: 'gatehouse@localhost',
    ...env,
  };
}

/**
 * `gatehouse client add --name NAME --redirect-uri URI… [--public] [--post-logout-redirect-uri
 * URI…] [--third-party] [--signing-alg ALG]` (docs/oidc-contract.md, "Clients"), run with the
 * data folder and settings `env` of the server it is for. Returns the JSON object it prints:
 * { client_id, client_secret (confidential clients only), name, public, … }.
 */
export async function addClient({
  dataDir,
  env = {},
  name,
  redirectUris = [],
  postLogoutRedirectUris = [],
  public: isPublic = false,
  thirdParty = false,
  signingAlg,
}) {
  const args = ['client', 'add', '--name', name];
  for (const uri of [redirectUris].flat()) args.push('--redirect-uri', uri);
  for (const uri of [postLogoutRedirectUris].flat()) args.push('--post-logout-redirect-uri', uri);
  if (isPublic) args.push('--public');
  if (thirdParty) args.push('--third-party');
  if (signingAlg) args.push('--signing-alg', signingAlg);
  const proc = spawnGatehouse(args, { dataDir, env });
  proc.child.stdin.end();
  const { code, signal, error } = await withTimeout(proc.exited, CLI_TIMEOUT_MS, `gatehouse ${args.join(' ')}`);
  const failed = (why) =>
    new Error(`gatehouse ${args.join(' ')} ${why}:\n${proc.lines.join('\n')}`);
  if (error || code !== 0) throw failed(`failed (exit ${code ?? signal}${error ? `, ${error.message}` : ''})`);
  const stdout = proc.lines
    .filter((line) => line.startsWith('stdout: '))
    .map((line) => line.slice('stdout: '.length))
    .join('\n')
    .trim();
  let client;
  try {
    client = JSON.parse(stdout);
  } catch (parseError) {
    throw failed(`did not print one JSON object on stdout (${parseError.message})`);
  }
  if (typeof client?.client_id !== 'string' || !client.client_id) throw failed('printed no client_id');
  return client;
}

/**
 * Runs `gatehouse ARGS…` against a data folder with settings `env` and resolves to
 * { code, stdout, stderr } (stdout and stderr as text), whatever the exit code.
 */
export async function runCli({ dataDir, env = {}, args }) {
  const proc = spawnGatehouse(args, { dataDir, env });
  proc.child.stdin.end();
  const { code, signal, error } = await withTimeout(proc.exited, CLI_TIMEOUT_MS, `gatehouse ${args.join(' ')}`);
  if (error) throw new Error(`gatehouse ${args.join(' ')} could not run: ${error.message}`);
  const of = (name) =>
    proc.lines
      .filter((line) => line.startsWith(`${name}: `))
      .map((line) => line.slice(name.length + 2))
      .join('\n');
  return { code: code ?? signal, stdout: of('stdout'), stderr: of('stderr') };
}

/**
 * Starts `gatehouse serve` (or `demo`) and resolves once it prints its address (and, for demo,
 * the demo account and `demo product at http://ADDR`). `env` adds (or overrides) settings for the
 * process, such as the SMS provider's GATEHOUSE_SMS_*. Returns { baseUrl, demoAccount,
 * productUrl, dataDir, output(), addClient(), stop() }.
 */
export async function startServer({ command = 'serve', dataDir, smtpPort, label = command, env = {} }) {
  const settings = serverEnv({ smtpPort, env });
  const proc = spawnGatehouse([command], { dataDir, env: settings });
  proc.child.stdin.end();

  const found = {};
  const wanted = command === 'demo' ? ['baseUrl', 'email', 'password', 'productUrl'] : ['baseUrl'];
  const patterns = { baseUrl: LISTENING, email: DEMO_EMAIL, password: DEMO_PASSWORD, productUrl: DEMO_PRODUCT };
  const ready = new Promise((resolve, reject) => {
    const scan = (line) => {
      for (const key of wanted) {
        const match = !found[key] && line.match(patterns[key]);
        if (match) found[key] = match[1];
      }
      if (wanted.every((key) => found[key])) resolve();
    };
    proc.lines.forEach((line) => scan(line.replace(/^std(out|err): /, '')));
    proc.listeners.add(scan);
    proc.exited.then(({ code, signal, error }) =>
      reject(new Error(`gatehouse ${command} exited before it was ready (exit ${code ?? signal}${error ? `, ${error.message}` : ''})`)),
    );
  });

  let stopping = false;
  const server = {
    baseUrl: undefined,
    demoAccount: undefined,
    productUrl: undefined,
    dataDir,
    output: () => proc.lines.join('\n'),
    /** `gatehouse client add …` against this server's data folder and settings (see addClient). */
    addClient: (client) => addClient({ dataDir, env: settings, ...client }),
    /** `gatehouse ARGS…` against this server's data folder and settings (see runCli). */
    cli: (args) => runCli({ dataDir, env: settings, args }),
    /** Undefined while the server runs (or was stopped by us); else how it ended, for errors. */
    unexpectedExit() {
      if (stopping || (proc.child.exitCode === null && proc.child.signalCode === null)) return undefined;
      return proc.lines.findLast((line) => line.startsWith('e2e: ')) ?? 'the server exited';
    },
    async stop() {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        stopping = true;
        proc.lines.push(`e2e: ${new Date().toISOString()} sending SIGTERM`);
        proc.child.kill('SIGTERM');
        try {
          await withTimeout(proc.exited, STOP_TIMEOUT_MS, `gatehouse ${command} after SIGTERM`);
        } catch {
          proc.lines.push(`e2e: no exit ${STOP_TIMEOUT_MS} ms after SIGTERM, sent SIGKILL`);
          proc.child.kill('SIGKILL');
          await proc.exited;
        }
      }
      // The server's log stays behind as an artefact; the data folder does not.
      await mkdir(RESULTS_DIR, { recursive: true });
      await writeFile(path.join(RESULTS_DIR, `server-${label}.log`), server.output() + '\n');
      if (!process.env.E2E_KEEP_DATA) await rm(dataDir, { recursive: true, force: true });
    },
  };

  try {
    await withTimeout(ready, START_TIMEOUT_MS, `gatehouse ${command} start-up`);
  } catch (error) {
    await server.stop();
    throw new Error(`${error.message}\nwanted: ${wanted.join(', ')}; found: ${JSON.stringify(found)}\n--- output ---\n${server.output()}`);
  }
  server.baseUrl = found.baseUrl.replace(/\/+$/, '');
  if (command === 'demo') {
    server.demoAccount = { email: found.email, password: found.password };
    server.productUrl = found.productUrl.replace(/\/+$/, '');
  }
  return server;
}
