// A real HTTP server on loopback that plays Twilio's Messages API for Gatehouse to text through
// (GATEHOUSE_SMS_PROVIDER=twilio): POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json,
// form fields To, From, Body, HTTP basic auth AccountSid:AuthToken; it answers 201 like Twilio
// does and keeps each text as { to, from, body, auth }, whatever the credentials, so the tests
// can assert on exactly what was sent. Each text is handed out by waitFor() once, so "the next
// code text" means a new one, as in mail.mjs.

import http from 'node:http';

const DEFAULT_WAIT_MS = 15_000;
const SIX_DIGITS = /(?<!\d)\d{6}(?!\d)/g;
const MAX_BODY_BYTES = 64 * 1024;
const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;

// What Gatehouse is configured with; the tests check that the texts carry them.
export const SMS_ACCOUNT_SID = 'AC0123456789';
export const SMS_AUTH_TOKEN = 'twilio-secret';
export const SMS_FROM = '+15550001111';

/** How the pages show a phone number: four bullets, a space, the last four digits. */
export function maskPhone(number) {
  return `•••• ${number.replace(/\D/g, '').slice(-4)}`;
}

/** A number as digits only (with its "+"), so that "+44 7700 900123" finds "+447700900123". */
function normalise(number) {
  return String(number ?? '').replace(/[^\d+]/g, '');
}

/** The six-digit codes in a text's body. */
function codesIn(text) {
  return [...new Set(text.body.match(SIX_DIGITS) ?? [])];
}

/** The one six-digit code in a text; throws if there is none or several. */
export function extractSmsCode(text) {
  const codes = codesIn(text);
  if (codes.length !== 1) {
    throw new Error(`expected exactly one six-digit code in the text to ${text.to}, found ${codes.length ? codes.join(', ') : 'none'}:\n${text.body}`);
  }
  return codes[0];
}

/** "user:password" from an `Authorization: Basic …` header, or undefined. */
function basicAuth(header) {
  const match = /^Basic\s+(\S+)$/i.exec(header ?? '');
  return match ? Buffer.from(match[1], 'base64').toString('utf8') : undefined;
}

function readBody(request) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('request body too large'));
        request.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function reply(response, status, body) {
  const json = JSON.stringify(body);
  response.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) });
  response.end(json);
}

export async function startSmsProvider() {
  const texts = [];
  const strays = []; // requests that were not a text to the Messages API, for error messages
  const waiters = new Set();

  const server = http.createServer(async (request, response) => {
    try {
      const { pathname } = new URL(request.url, 'http://127.0.0.1');
      const account = MESSAGES_PATH.exec(pathname);
      const body = await readBody(request);
      if (request.method !== 'POST' || !account) {
        strays.push(`${request.method} ${request.url}`);
        reply(response, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });
        return;
      }
      const form = new URLSearchParams(body);
      const text = {
        seq: texts.length,
        taken: false,
        account: decodeURIComponent(account[1]),
        to: form.get('To') ?? '',
        from: form.get('From') ?? undefined,
        body: form.get('Body') ?? '',
        auth: basicAuth(request.headers.authorization),
        contentType: request.headers['content-type'],
        at: new Date(),
      };
      texts.push(text);
      reply(response, 201, { sid: `SM${text.seq + 1}`, status: 'queued' });
      for (const waiter of waiters) waiter.check();
    } catch (error) {
      strays.push(`${request.method} ${request.url} (${error.message})`);
      if (!response.headersSent) reply(response, 400, { message: error.message, status: 400 });
    }
  });

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  const baseUrl = `http://127.0.0.1:${port}`;

  const summary = () =>
    [
      ...(texts.length
        ? texts.map((t) => `  #${t.seq} to ${t.to}: "${t.body}"${t.taken ? ' (already taken)' : ''}`)
        : ['  (no texts)']),
      ...strays.map((s) => `  not a text: ${s}`),
    ].join('\n');

  return {
    port,
    baseUrl,

    /** GATEHOUSE_* settings that make the server text through this provider. */
    serverEnv: () => ({
      GATEHOUSE_SMS_PROVIDER: 'twilio',
      GATEHOUSE_SMS_TWILIO_BASE_URL: baseUrl,
      GATEHOUSE_SMS_TWILIO_ACCOUNT_SID: SMS_ACCOUNT_SID,
      GATEHOUSE_SMS_TWILIO_AUTH_TOKEN: SMS_AUTH_TOKEN,
      GATEHOUSE_SMS_FROM: SMS_FROM,
    }),

    /** A position in the stream of texts: pass as `since` to look only at later ones. */
    mark: () => texts.length,

    /** Every text to `number` received at or after `since`, taken or not. */
    received: (number, { since = 0 } = {}) => texts.filter((t) => t.seq >= since && normalise(t.to) === normalise(number)),

    /** The first not-yet-taken text to `number` matching `predicate`; waits for it to arrive. */
    waitFor(number, predicate = () => true, { since = 0, timeoutMs = DEFAULT_WAIT_MS } = {}) {
      return new Promise((resolve, reject) => {
        const waiter = {
          reject,
          check() {
            const text = texts.find((t) => {
              if (t.taken || t.seq < since || normalise(t.to) !== normalise(number)) return false;
              try {
                return predicate(t);
              } catch {
                return false;
              }
            });
            if (!text) return;
            text.taken = true;
            waiters.delete(waiter);
            clearTimeout(waiter.timer);
            resolve(text);
          },
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(new Error(`no matching text to ${number} within ${timeoutMs} ms; the SMS provider received:\n${summary()}`));
          }, timeoutMs),
        };
        waiters.add(waiter);
        waiter.check();
      });
    },

    /** The next text to `number` that carries a code, and that code: { code, text }. */
    async waitForCode(number, options) {
      const text = await this.waitFor(number, (t) => codesIn(t).length > 0, options);
      return { code: extractSmsCode(text), text };
    },

    stop: () =>
      new Promise((resolve) => {
        for (const waiter of waiters) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`the SMS provider stopped while waiting for a text; it received:\n${summary()}`));
        }
        waiters.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
