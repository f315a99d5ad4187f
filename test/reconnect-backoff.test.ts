import t from 'tap';
import { ReconnectBackoffError } from '../src/errors.js';
import { ReconnectBackoff } from '../src/reconnect-backoff.js';

// The pool's reconnect delay on a hand-moved clock: doubling from 250 ms to the maximum, jitter of
// ±20 %, attempts refused meanwhile with the last real failure, reset by a success.

t.test('doubles from 250 ms up to the maximum, refuses meanwhile, resets on success', async (t) => {
  let now = 1000;
  let random = 0.5; // no jitter
  const backoff = new ReconnectBackoff(
    2000,
    () => now,
    () => random,
  );
  t.equal(backoff.refusal(), undefined, 'the first attempt may start');
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    backoff.failed(refused);
    const refusal = backoff.refusal();
    t.type(refusal, ReconnectBackoffError);
    delays.push(refusal!.retryInMs);
    now += refusal!.retryInMs;
    t.equal(backoff.refusal(), undefined, `attempt ${i + 2} may start once its delay has passed`);
  }
  t.same(delays, [250, 500, 1000, 2000, 2000], 'doubling, capped at the maximum');

  backoff.failed(refused);
  const refusal = backoff.refusal()!;
  t.equal(refusal.message, refused.message, 'the refusal says what the last failure was');
  t.equal(refusal.code, 'ECONNREFUSED');
  t.equal(refusal.cause, refused, 'and wraps it as its cause');

  backoff.succeeded();
  t.equal(backoff.refusal(), undefined, 'a success lifts the delay');
  backoff.failed(refused);
  t.equal(backoff.refusal()!.retryInMs, 250, 'and starts the doubling over');

  random = 0;
  backoff.succeeded();
  backoff.failed(refused);
  t.equal(backoff.refusal()!.retryInMs, 200, 'jitter: 20 % shorter at the low end');
  random = 1;
  backoff.succeeded();
  backoff.failed(refused);
  t.equal(backoff.refusal()!.retryInMs, 300, 'jitter: 20 % longer at the high end');
});
