import t from 'tap';
import type { CollectorDefinition } from '../../src/collectors/types.js';
import { redactSecrets } from '../../src/log-redaction.js';
import { createLogger } from '../../src/logger.js';
import { startPgvigil } from '../helpers/pgvigil.js';

// Errors are logged whole (message, stack, cause chain, own fields) through pino's err
// serializer; a password inside any of those strings must still never reach the log.

const PASSWORD = 'Hx7-err0r-s3cret-Qm4';

function capture() {
  let text = '';
  const log = createLogger('debug', {
    write: (chunk: string) => {
      text += chunk;
    },
  });
  return { log, text: () => text };
}

/** The TypeError Node's URL parser really throws: it carries the whole input as `input`. */
function urlError(): Error {
  try {
    new URL(`postgres://vault:${PASSWORD}@[db-host/postgres`);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected new URL to throw');
}

t.test('an error logged under err keeps its stack and cause, and loses the password', async (t) => {
  const { log, text } = capture();
  const cause = urlError();
  t.match((cause as { input?: string }).input, PASSWORD, 'the parser error really holds the password');
  log.warn({ err: new Error('cannot open the connection', { cause }) }, 'connect failed');
  const line = JSON.parse(text()) as { err: { message: string; stack: string; type: string } };
  t.notOk(text().includes(PASSWORD), 'no password anywhere in the line');
  t.match(line.err.message, /cannot open the connection: Invalid URL/, 'the cause is in the message');
  t.match(line.err.stack, /\n\s+at /, 'the stack is kept');
  t.match(line.err.stack, /caused by: TypeError/, "the cause's stack too");
});

t.test("the URL parser's own error loses the password from its input field", async (t) => {
  const { log, text } = capture();
  log.warn({ err: urlError() }, 'bad connection string');
  const line = JSON.parse(text()) as { err: { input: string; code: string } };
  t.notOk(text().includes(PASSWORD), 'no password anywhere in the line');
  t.equal(line.err.input, 'postgres://vault:[redacted]@[db-host/postgres', 'user name and host are left');
  t.equal(line.err.code, 'ERR_INVALID_URL', 'other fields are kept');
});

t.test('key/value connection strings lose their password, quoted or not', async (t) => {
  t.equal(redactSecrets(`host=db password=${PASSWORD} user=x`), 'host=db password=[redacted] user=x');
  t.equal(redactSecrets(`password = '${PASSWORD} x' dbname=y`), 'password = [redacted] dbname=y');
  t.equal(redactSecrets(`PGPASSWORD=${PASSWORD}`), 'PGPASSWORD=[redacted]');
  const authFailed = 'password authentication failed for user "vault"';
  t.equal(redactSecrets(authFailed), authFailed, 'a message about a password is left alone');
  const url = `postgresql://u:${encodeURIComponent(PASSWORD)}@h:5432/d`;
  t.equal(redactSecrets(url), 'postgresql://u:[redacted]@h:5432/d');
});

t.test('a collector failure with a password in its error is logged without it', async (t) => {
  // needsPostgres: false, so the poller's own path runs without a server.
  const leaky: CollectorDefinition = {
    name: 'leaky',
    description: 'throws an error that repeats a connection string',
    scope: 'cluster',
    defaultIntervalSeconds: 60,
    needsPostgres: false,
    create: () => ({
      collect: () => {
        const message = `cannot reach postgres://vault:${PASSWORD}@db/postgres`;
        return Promise.reject(new Error(message, { cause: urlError() }));
      },
    }),
  };
  const url = `postgres://vault:${PASSWORD}@127.0.0.1:1/postgres`;
  const exporter = await startPgvigil(t, url, {}, { definitions: [leaky] });
  await exporter.poll('leaky');
  const failed = exporter
    .logs()
    .split('\n')
    .find((l) => l.includes('"collector failed"'));
  t.ok(failed, 'the failure is logged');
  t.match(failed, /caused by: Error: cannot reach postgres:\/\/vault:\[redacted\]@db/, 'with its stack');
  t.notOk(exporter.logs().includes(PASSWORD), 'no password anywhere in the log');
});
