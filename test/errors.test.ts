import t from 'tap';
import {
  CollectorRunError,
  ConnectionTimeoutError,
  classifyError,
  failureIdentity,
  MissingExtensionError,
  ReconnectBackoffError,
  withDeadline,
} from '../src/errors.js';
import { FakeClock } from './helpers/fake-clock.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

t.test('every failure maps to one reason label', async (t) => {
  t.equal(classifyError(new ConnectionTimeoutError('gave up')), 'timeout');
  t.equal(classifyError(pgError('57014', 'canceling statement due to statement timeout')), 'timeout');
  t.equal(classifyError(pgError('55P03', 'could not obtain lock')), 'timeout');
  t.equal(classifyError(pgError('42501', 'permission denied')), 'permission');
  t.equal(classifyError(pgError('ECONNREFUSED')), 'connection');
  t.equal(classifyError(pgError('57P01', 'terminating connection due to administrator command')), 'connection');
  t.equal(classifyError(pgError('28P01', 'password authentication failed')), 'connection');
  t.equal(classifyError(new Error('Connection terminated unexpectedly')), 'connection');
  t.equal(classifyError(new ReconnectBackoffError(100, pgError('ECONNREFUSED'))), 'connection');
  t.equal(classifyError(new MissingExtensionError('pg_stat_statements', 'not created')), 'missing_extension');
  t.equal(classifyError(pgError('42P01', 'relation "pg_stat_statements" does not exist')), 'missing_extension');
  t.equal(classifyError(pgError('42P01', 'relation "other" does not exist')), 'other');
  t.equal(classifyError('not even an Error'), 'other');
});

t.test('a wrapped failure keeps the reason of its cause', async (t) => {
  t.equal(classifyError(new CollectorRunError('tables', 'shop', pgError('42501'))), 'permission');
  t.equal(classifyError(new CollectorRunError('tables', 'shop', new ConnectionTimeoutError('gave up'))), 'timeout');
  const missing = new MissingExtensionError('pg_stat_statements', 'not created');
  t.equal(classifyError(new CollectorRunError('statements', 'shop', missing)), 'missing_extension');
  t.equal(classifyError(new CollectorRunError('tables', 'shop', new Error('boom'))), 'other');
  const wrapped = new CollectorRunError('tables', 'shop', pgError('42501', 'permission denied for table t'));
  t.equal(wrapped.message, 'collector tables failed on database shop');
  t.equal(wrapped.code, '42501', 'the SQLSTATE is on the wrapper too, for the log');
  t.equal(
    failureIdentity(new CollectorRunError('tables', 'shop', new Error('boom'))),
    failureIdentity(new CollectorRunError('tables', 'app', new Error('boom'))),
    'the same failure on two databases is one failure for logging',
  );
});

t.test('two failures are the same for logging when reason and code (or message) agree', async (t) => {
  t.equal(failureIdentity(pgError('42501', 'a')), failureIdentity(pgError('42501', 'b')));
  t.not(failureIdentity(new Error('a')), failureIdentity(new Error('b')));
});

t.test('withDeadline: the work, or the timeout error once the deadline passes', async (t) => {
  const clock = new FakeClock();
  t.equal(await withDeadline(Promise.resolve(5), 100, () => new Error('late'), clock), 5, 'in time: the result');

  let late!: (v: number) => void;
  const work = new Promise<number>((r) => (late = r));
  const pending = withDeadline(work, 100, () => new ConnectionTimeoutError('late'), clock);
  let settled = false;
  pending.then(
    () => (settled = true),
    () => (settled = true),
  );
  await clock.advance(99);
  t.notOk(settled, 'nothing before the deadline');
  await clock.advance(1);
  await t.rejects(pending, ConnectionTimeoutError, 'the timeout error at the deadline');
  late(1);

  let fail!: (err: Error) => void;
  const failing = withDeadline(new Promise<number>((_, r) => (fail = r)), 100, () => new Error('timeout'), clock);
  const rejected = t.rejects(failing, { message: 'timeout' }, 'the deadline wins over a later failure');
  await clock.advance(100);
  await rejected;
  fail(new Error('failed after the deadline'));
  await clock.advance(1); // an unhandled rejection here would fail the test run
});
