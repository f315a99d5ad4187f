import { queryErrorKind } from 'pgvigil-pool';
import t from 'tap';
import { rowCount, SlowQueryLog } from '../../packages/pool/src/slow-query-log.js';

// Pure logic with a hand-driven clock: the slow log's rate limit per redacted text and the count
// of lines it left out; how failures are sorted into timeout and error.

t.test('one line per redacted text per interval; the next line says how many were left out', async (t) => {
  const lines: Record<string, unknown>[] = [];
  let now = 1_000_000;
  const log = new SlowQueryLog(
    { warn: (fields) => lines.push(fields) },
    60_000,
    { pool: 'p', application_name: 'a' },
    () => now,
  );
  const slow = (text: string) =>
    log.record({ className: 'other', thresholdSeconds: 0.1, text, seconds: 0.2, rows: 3, sqlState: undefined });
  slow("SELECT * FROM t WHERE secret = 'one'");
  slow("SELECT * FROM t WHERE secret = 'two'"); // the same text once redacted
  slow('SELECT * FROM t WHERE secret = 3');
  t.equal(lines.length, 1, 'texts that differ only in literals share one redacted text, and one limit');
  t.equal(lines[0]!.query, 'SELECT * FROM t WHERE secret = ?');
  t.notOk('suppressed' in lines[0]!);
  now += 59_999;
  slow("SELECT * FROM t WHERE secret = 'four'");
  t.equal(lines.length, 1, 'still within the interval');
  now += 1;
  slow("SELECT * FROM t WHERE secret = 'five'");
  t.equal(lines.length, 2, 'the interval has passed');
  t.match(lines[1], {
    query: 'SELECT * FROM t WHERE secret = ?',
    suppressed: 3,
    rows: 3,
    pool: 'p',
    application_name: 'a',
  });
});

t.test('rowCount sums the results of a multi-statement text', async (t) => {
  t.equal(rowCount({ rowCount: 4 }), 4);
  t.equal(rowCount([{ rowCount: 1 }, { rowCount: null }, { rowCount: 2 }]), 3);
  t.equal(rowCount({ rowCount: null }), null);
  t.equal(rowCount(undefined), null);
});

t.test('timeouts by SQLSTATE and by node-postgres message; everything else is an error', async (t) => {
  for (const code of ['57014', '55P03', '25P03', '25P04', '57P05'])
    t.equal(queryErrorKind({ code, message: 'x' }), 'timeout', code);
  t.equal(queryErrorKind(new Error('Query read timeout')), 'timeout');
  for (const code of ['42601', '23505', '08006']) t.equal(queryErrorKind({ code }), 'error', code);
  t.equal(queryErrorKind(new Error('Connection terminated unexpectedly')), 'error');
  t.equal(queryErrorKind(undefined), 'error');
});
