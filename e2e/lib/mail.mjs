// A real SMTP server on loopback that Gatehouse delivers to (plain SMTP, no TLS, no AUTH), and
// an inbox over what it received: wait for a message to someone, read the code out of it.
// Each message is handed out by waitFor() once, so "the next code mail" means a new one.

import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

const DEFAULT_WAIT_MS = 15_000;
const SIX_DIGITS = /(?<!\d)\d{6}(?!\d)/g;

/**
 * The six-digit codes in a message's plain-text part. Links are left out: a link's random
 * token ("Stop this sign-in") may hold six digits in a row by chance.
 */
function codesIn(message) {
  const text = (message.text ?? '').replace(/https?:\/\/\S+/g, ' ');
  return [...new Set(text.match(SIX_DIGITS) ?? [])];
}

/** Whether a message carries a one-time code (notices carry none, DESIGN.md §1). */
export function carriesCode(message) {
  return codesIn(message).length > 0;
}

/** The one six-digit code in the plain-text part; throws if there is none or several. */
export function extractCode(message) {
  const codes = codesIn(message);
  if (codes.length !== 1) {
    throw new Error(
      `expected exactly one six-digit code in the plain-text part of "${message.subject}", ` +
        `found ${codes.length ? codes.join(', ') : 'none'}:\n${message.text ?? '(no text part)'}`,
    );
  }
  return codes[0];
}

function addressedTo(message, to) {
  const wanted = to.toLowerCase();
  return message.recipients.some((address) => address.toLowerCase() === wanted);
}

export async function startMailServer() {
  const messages = [];
  const waiters = new Set();

  const deliver = (message) => {
    messages.push(message);
    for (const waiter of waiters) waiter.check();
  };

  const smtp = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    closeTimeout: 1_000,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const headerTo = parsed.to ? [parsed.to].flat().flatMap((t) => t.value) : [];
          deliver({
            seq: messages.length,
            taken: false,
            recipients: [
              ...session.envelope.rcptTo.map((r) => r.address),
              ...headerTo.map((v) => v.address).filter(Boolean),
            ],
            from: session.envelope.mailFrom?.address,
            subject: parsed.subject ?? '',
            text: parsed.text ?? '',
            html: typeof parsed.html === 'string' ? parsed.html : '',
            parsed,
          });
          callback();
        })
        .catch(callback);
    },
  });

  await new Promise((resolve, reject) => {
    smtp.once('error', reject);
    smtp.listen(0, '127.0.0.1', resolve);
  });
  const port = smtp.server.address().port;

  const summary = () =>
    messages.length
      ? messages.map((m) => `  #${m.seq} to ${m.recipients[0]}: "${m.subject}"${m.taken ? ' (already taken)' : ''}`).join('\n')
      : '  (none)';

  return {
    port,

    /** A position in the stream of messages: pass as `since` to look only at later ones. */
    mark: () => messages.length,

    /** Every message to `to` received at or after `since`, taken or not. */
    received: (to, { since = 0 } = {}) => messages.filter((m) => m.seq >= since && addressedTo(m, to)),

    /** The first not-yet-taken message to `to` matching `predicate`; waits for it to arrive. */
    waitFor(to, predicate = () => true, { since = 0, timeoutMs = DEFAULT_WAIT_MS } = {}) {
      return new Promise((resolve, reject) => {
        const waiter = {
          check() {
            const message = messages.find((m) => {
              if (m.taken || m.seq < since || !addressedTo(m, to)) return false;
              try {
                return predicate(m);
              } catch {
                return false;
              }
            });
            if (!message) return;
            message.taken = true;
            waiters.delete(waiter);
            clearTimeout(waiter.timer);
            resolve(message);
          },
          timer: setTimeout(() => {
            waiters.delete(waiter);
            reject(new Error(`no matching e-mail to ${to} within ${timeoutMs} ms; received:\n${summary()}`));
          }, timeoutMs),
        };
        waiters.add(waiter);
        waiter.check();
      });
    },

    /** The next mail to `to` that carries a code, and that code. */
    async nextCode(to, options) {
      const message = await this.waitFor(to, carriesCode, options);
      return { code: extractCode(message), message };
    },

    stop: () => new Promise((resolve) => smtp.close(resolve)),
  };
}
