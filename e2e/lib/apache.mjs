// A product Gatehouse did not write: Apache httpd with mod_auth_openidc (Debian's `apache2` and
// `libapache2-mod-auth-openidc`) in front of a page, the relying party most existing web apps put
// before themselves. The test writes the whole configuration (its own ServerRoot, PidFile,
// ErrorLog and runtime folder in a temp dir, one loopback port), starts `apache2 -f CONF
// -DFOREGROUND` itself and stops it with SIGTERM; no system service, no port 80.
//
// It is a product for `useGatehouse({ products })` (lib/harness.mjs): start() reserves a port,
// registration() is what `gatehouse client add` gets, connect() writes the configuration with
// the issuer and the client the CLI printed and starts Apache, stop() stops it and keeps its
// configuration and error log in test-results/. Its pages:
//
//   /signed-out.html            public: "Signed out of Apache" (the post-logout redirect URI)
//   /protected/                 behind mod_auth_openidc: "Protected by Apache" and the claims
//                               Apache passes on (OIDC_CLAIM_email, OIDC_CLAIM_sub,
//                               OIDC_CLAIM_amr, OIDC_access_token, REMOTE_USER), printed by
//                               server-side includes
//                               (mod_include), and the link "Sign out"
//   /protected/redirect_uri     mod_auth_openidc's OIDCRedirectURI; "?logout=URL" is its
//                               RP-initiated logout
//
// Like lib/product.mjs it listens on 127.0.0.1 but calls itself http://localhost:PORT, another
// site than Gatehouse's 127.0.0.1, as a real product is.

import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { RESULTS_DIR, withTimeout } from './server.mjs';

export const APACHE = process.env.APACHE_PATH ?? '/usr/sbin/apache2';
export const MODULES_DIR = process.env.APACHE_MODULES_DIR ?? '/usr/lib/apache2/modules';
const MODULES = [
  ['mpm_event_module', 'mod_mpm_event.so'],
  ['authn_core_module', 'mod_authn_core.so'],
  ['authz_core_module', 'mod_authz_core.so'],
  ['authz_user_module', 'mod_authz_user.so'],
  ['mime_module', 'mod_mime.so'],
  ['dir_module', 'mod_dir.so'],
  ['include_module', 'mod_include.so'],
  ['auth_openidc_module', 'mod_auth_openidc.so'],
];

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Fails (never skips) when Apache or a module it needs is missing: scripts/test installs them. */
export async function assertApacheInstalled() {
  const missing = [];
  for (const file of [APACHE, ...MODULES.map(([, so]) => path.join(MODULES_DIR, so))]) {
    try {
      await access(file, constants.R_OK);
    } catch {
      missing.push(file);
    }
  }
  if (missing.length) {
    throw new Error(
      `Apache httpd with mod_auth_openidc is needed and missing (${missing.join(', ')}).\n` +
        'Install Debian\'s packages: apt-get install -y apache2 libapache2-mod-auth-openidc (scripts/test does).',
    );
  }
}

/** A free loopback port: bound on port 0, then released for Apache to take. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The protected page; `logoutHref` is Apache's logout (OIDCRedirectURI?logout=URL). */
const protectedPage = (logoutHref) => `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Protected by Apache</title></head>
<body>
<main>
<h1>Protected by Apache</h1>
<dl>
<dt>email</dt><dd id="email"><!--#echo var="OIDC_CLAIM_email" --></dd>
<dt>sub</dt><dd id="sub"><!--#echo var="OIDC_CLAIM_sub" --></dd>
<dt>amr</dt><dd id="amr"><!--#echo var="OIDC_CLAIM_amr" --></dd>
<dt>access token</dt><dd id="access-token"><!--#echo var="OIDC_access_token" --></dd>
<dt>REMOTE_USER</dt><dd id="remote-user"><!--#echo var="REMOTE_USER" --></dd>
</dl>
<p><a href="${logoutHref}">Sign out</a></p>
</main>
</body>
</html>
`;

const SIGNED_OUT_PAGE = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Signed out of Apache</title></head>
<body><main><h1>Signed out of Apache</h1><p><a href="/protected/">Protected page</a></p></main></body>
</html>
`;

/** The whole httpd.conf: loopback only, everything under `root`, one protected folder. */
export function apacheConfig({ root, port, origin, issuer, clientId, clientSecret, passphrase, user, authRequestMethod = 'GET' }) {
  const q = (text) => `"${String(text).replace(/["\\]/g, '\\$&')}"`;
  return [
    `ServerRoot ${q(root)}`,
    `ServerName localhost`,
    `Listen 127.0.0.1:${port}`,
    `PidFile ${q(path.join(root, 'httpd.pid'))}`,
    `DefaultRuntimeDir ${q(path.join(root, 'run'))}`,
    `ErrorLog ${q(path.join(root, 'error.log'))}`,
    `LogLevel warn auth_openidc:info`,
    ...MODULES.map(([name, so]) => `LoadModule ${name} ${q(path.join(MODULES_DIR, so))}`),
    // Apache will not serve as root; the children run as www-data, so the folder is world-readable.
    ...(user ? [`User ${user}`, `Group ${user}`] : []),
    `StartServers 1`,
    `ServerLimit 1`,
    `ThreadsPerChild 8`,
    `MinSpareThreads 1`,
    `MaxSpareThreads 8`,
    `MaxRequestWorkers 8`,
    `DocumentRoot ${q(path.join(root, 'htdocs'))}`,
    `DirectoryIndex index.shtml`,
    `TypesConfig /dev/null`,
    `AddType text/html .html .shtml`,
    `AddOutputFilter INCLUDES .shtml`,
    `<Directory ${q(path.join(root, 'htdocs'))}>`,
    `  Options +Includes`,
    `  Require all granted`,
    `</Directory>`,
    '',
    '# mod_auth_openidc: Gatehouse found by discovery; the code flow with PKCE (S256),',
    '# client_secret_basic at the token endpoint; the ID token checked against the JWKS.',
    `OIDCProviderMetadataURL ${q(`${issuer}/.well-known/openid-configuration`)}`,
    `OIDCClientID ${q(clientId)}`,
    `OIDCClientSecret ${q(clientSecret)}`,
    `OIDCRedirectURI ${q(`${origin}/protected/redirect_uri`)}`,
    `OIDCCryptoPassphrase ${q(passphrase)}`,
    `OIDCScope "openid email offline_access"`,
    // Test only: refresh whenever the access token has less than its whole life (900 s) left,
    // that is on every request, so that a reload shows the refresh grant working.
    `OIDCRefreshAccessTokenBeforeExpiry 900`,
    `OIDCResponseType code`,
    `OIDCPKCEMethod S256`,
    // GET (a redirect), or POST (a self-submitting form; OpenID Connect Core §3.1.2.1).
    `OIDCProviderAuthRequestMethod ${authRequestMethod}`,
    `OIDCProviderTokenEndpointAuth client_secret_basic`,
    `OIDCRemoteUserClaim sub`,
    `OIDCPassClaimsAs environment`,
    `<Location /protected/>`,
    `  AuthType openid-connect`,
    `  Require valid-user`,
    `</Location>`,
    '',
  ].join('\n');
}

export class ApacheProduct {
  /** Set by start(): http://localhost:PORT. */
  url = undefined;
  origin = undefined;

  #root = undefined;
  #port = undefined;
  #proc = undefined;
  #lines = [];

  constructor({ name = 'Apache', host = 'localhost', authRequestMethod = 'GET' } = {}) {
    this.name = name;
    this.host = host;
    this.authRequestMethod = authRequestMethod;
  }

  get protectedUrl() {
    return `${this.url}/protected/`;
  }

  get redirectUri() {
    return `${this.url}/protected/redirect_uri`;
  }

  get postLogoutRedirectUri() {
    return `${this.url}/signed-out.html`;
  }

  /** Reserves the port and the folder; Apache itself starts in connect(), once it has a client. */
  async start() {
    await assertApacheInstalled();
    this.#port = await freePort();
    this.url = `http://${this.host}:${this.#port}`;
    this.origin = new URL(this.url).origin;
    this.#root = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-e2e-apache-'));
  }

  registration(extra = {}) {
    return {
      name: this.name,
      redirectUris: [this.redirectUri],
      postLogoutRedirectUris: [this.postLogoutRedirectUri],
      ...extra,
    };
  }

  /** Writes httpd.conf for `issuer` and `client` (what `gatehouse client add` printed) and starts Apache. */
  async connect({ issuer, client }) {
    const root = this.#root;
    const asRoot = process.getuid?.() === 0;
    await mkdir(path.join(root, 'htdocs', 'protected'), { recursive: true });
    await mkdir(path.join(root, 'run'), { recursive: true });
    const logoutHref = `/protected/redirect_uri?logout=${encodeURIComponent(this.postLogoutRedirectUri)}`;
    await writeFile(path.join(root, 'htdocs', 'protected', 'index.shtml'), protectedPage(logoutHref));
    await writeFile(path.join(root, 'htdocs', 'signed-out.html'), SIGNED_OUT_PAGE);
    this.config = apacheConfig({
      root,
      port: this.#port,
      origin: this.origin,
      issuer,
      clientId: client.client_id,
      clientSecret: client.client_secret,
      passphrase: randomBytes(24).toString('hex'),
      user: asRoot ? 'www-data' : undefined,
      authRequestMethod: this.authRequestMethod,
    });
    const conf = path.join(root, 'httpd.conf');
    await writeFile(conf, this.config, { mode: 0o600 });
    if (asRoot) {
      for (const dir of [root, path.join(root, 'htdocs'), path.join(root, 'htdocs', 'protected')]) await chmod(dir, 0o755);
    }

    const child = spawn(APACHE, ['-f', conf, '-DFOREGROUND'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    const exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      });
      child.on('error', (error) => {
        running.delete(child);
        resolve({ code: null, signal: null, error });
      });
    });
    for (const stream of [child.stdout, child.stderr]) stream.on('data', (chunk) => this.#lines.push(String(chunk)));
    this.#proc = { child, exited };

    let gone;
    exited.then((how) => {
      gone = how;
    });
    const ready = (async () => {
      while (!gone && !(await canConnect(this.#port))) await new Promise((resolve) => setTimeout(resolve, 50));
      if (gone) throw new Error(`apache2 exited at start-up (${gone.code ?? gone.signal})`);
    })();
    try {
      await withTimeout(ready, START_TIMEOUT_MS, 'apache2 start-up');
    } catch (error) {
      const log = await this.errorLog();
      await this.stop();
      throw new Error(`${error.message}\n--- output ---\n${this.#lines.join('')}\n--- error.log ---\n${log}`);
    }
  }

  /** Apache's error log so far (mod_auth_openidc writes why it refused something there). */
  async errorLog() {
    try {
      return await readFile(path.join(this.#root, 'error.log'), 'utf8');
    } catch {
      return '(no error.log)';
    }
  }

  async stop() {
    const proc = this.#proc;
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill('SIGTERM');
      try {
        await withTimeout(proc.exited, STOP_TIMEOUT_MS, 'apache2 after SIGTERM');
      } catch {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
    if (!this.#root) return;
    await mkdir(RESULTS_DIR, { recursive: true });
    const label = this.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    for (const [file, saved] of [['error.log', `${label}-error.log`], ['httpd.conf', `${label}-httpd.conf`]]) {
      await copyFile(path.join(this.#root, file), path.join(RESULTS_DIR, saved)).catch(() => {});
    }
    if (!process.env.E2E_KEEP_DATA) await rm(this.#root, { recursive: true, force: true });
    this.#root = undefined;
  }
}
