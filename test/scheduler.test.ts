import t, { type Test } from 'tap';
import type { CollectContext, CollectorDefinition } from '../src/collectors/types.js';
import type { ContactListener, Lease } from '../src/db.js';
import { CollectorRenderings } from '../src/exposition/collector-renderings.js';
import { Exposition } from '../src/exposition/exposition.js';
import { type Family, gauge } from '../src/exposition/families.js';
import { createLogger } from '../src/logger.js';
import { loadConfig } from '../src/pgvigil-config.js';
import { Poller, type PollerDatabase } from '../src/poller.js';
import { SelfMetrics } from '../src/self-metrics.js';
import { SnapshotStore } from '../src/snapshot-store.js';
import { FakeClock, settle } from './helpers/fake-clock.js';

// The scheduler's own logic on a fake clock and a fake pool: fixed-rate schedule, single flight,
// timeout, staleness, database discovery and logging once per failure. What a collector reads
// from PostgreSQL is tested against real servers elsewhere; here no collector touches SQL.

const INTERVAL_MS = 10_000;

interface Deferred {
  readonly promise: Promise<Family[]>;
  resolve(families: Family[]): void;
}

function deferred(): Deferred {
  let resolve!: (families: Family[]) => void;
  const promise = new Promise<Family[]>((r) => (resolve = r));
  return { promise, resolve };
}

/** A collector whose runs the test answers: each call records its context and waits for `answer`. */
function scripted(name: string, scope: 'cluster' | 'database' = 'cluster', needsPostgres = false) {
  const calls: { ctx: CollectContext; run: Deferred }[] = [];
  const definition: CollectorDefinition = {
    name,
    description: 'test collector',
    scope,
    defaultIntervalSeconds: INTERVAL_MS / 1000,
    needsPostgres,
    create: () => ({
      collect(ctx) {
        const run = deferred();
        calls.push({ ctx, run });
        return run.promise;
      },
    }),
  };
  return { definition, calls };
}

function sample(name: string, value: number, labels: Record<string, string> = {}): Family[] {
  return [gauge(name, 'test gauge', [{ labels, value }])];
}

function harness(t: Test, definitions: CollectorDefinition[], env: Record<string, string> = {}) {
  const clock = new FakeClock();
  const base = loadConfig({ DATABASE_URL: 'postgres://pgvigil@127.0.0.1:1/postgres', ...env });
  const config = { ...base, enabledCollectors: new Set(definitions.map((d) => d.name)) };
  let logText = '';
  const log = createLogger('debug', {
    write: (chunk: string) => {
      logText += chunk;
    },
  });
  const metrics = new SelfMetrics('test');
  const snapshots = new SnapshotStore();
  const state = { databases: ['app', 'shop'], contact: [] as ContactListener[] };
  const db: PollerDatabase = {
    defaultDatabase: 'postgres',
    size: 0,
    maxSize: 2,
    // Only database discovery queries through the lease here; the test collectors never do.
    async withConnection(datname, _timeoutMs, fn) {
      const client = { query: async () => ({ rows: state.databases.map((d) => ({ datname: d })) }) };
      return fn({ client, facts: {}, datname } as unknown as Lease);
    },
    onContact: (listener) => void state.contact.push(listener),
  };
  const poller = new Poller({ config, db, metrics, log, definitions, snapshots, clock });
  const renderings = new CollectorRenderings(snapshots, metrics, log, () => clock.now());
  const exposition = new Exposition(snapshots, renderings, metrics, () => clock.now());
  t.teardown(async () => {
    const stopped = poller.stop();
    await clock.advance(5000);
    await stopped;
  });
  /** A self-metric's value for `collector` (and reason), undefined when never set. */
  const value = async (metric: keyof SelfMetrics, labels: Record<string, string>) => {
    const m = metrics[metric] as { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> };
    const values = (await m.get()).values;
    return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value;
  };
  return { clock, config, poller, snapshots, exposition, metrics, state, value, logs: () => logText };
}

t.test('fixed rate, one run at a time: a run falling due while the last one runs is skipped and counted', async (t) => {
  const slow = scripted('slow');
  // A timeout longer than the interval, so the overlap is the scheduler's to handle.
  const h = harness(t, [slow.definition], { PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '30' });
  h.poller.start();
  await h.clock.advance(0);
  t.equal(slow.calls.length, 1, 'the first run starts at once');
  await h.clock.advance(INTERVAL_MS);
  t.equal(slow.calls.length, 1, 'no second run while the first is still going');
  t.equal(await h.value('collectorSkipped', { collector: 'slow' }), 1, 'the overdue run is counted as skipped');
  slow.calls[0]!.run.resolve(sample('test_slow', 1));
  await settle();
  await h.clock.advance(INTERVAL_MS - 1);
  t.equal(slow.calls.length, 1, 'not before the next slot of the fixed rate');
  await h.clock.advance(1);
  t.equal(slow.calls.length, 2, 'the next run starts on the fixed-rate slot');
  t.equal(await h.value('collectorSuccess', { collector: 'slow' }), 1, 'the finished run counted as a success');
});

t.test('a run asked for while one is going joins it instead of running twice', async (t) => {
  const slow = scripted('slow');
  const h = harness(t, [slow.definition]);
  const first = h.poller.pollCollector('slow');
  await settle();
  const second = h.poller.pollCollector('slow');
  await settle();
  t.equal(slow.calls.length, 1, 'one collect call for two requests');
  slow.calls[0]!.run.resolve(sample('test_slow', 7));
  await Promise.all([first, second]);
  t.match(await h.exposition.text('prometheus'), /^test_slow 7$/m, 'both resolved with the snapshot in place');
});

t.test('a run that outlives the collector timeout fails as a timeout and frees the schedule', async (t) => {
  const stuck = scripted('stuck');
  const h = harness(t, [stuck.definition], {
    PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '2',
    PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '1',
  });
  h.poller.start();
  await h.clock.advance(1999);
  const timeouts = () => h.value('collectorErrors', { collector: 'stuck', reason: 'timeout' });
  t.equal(await timeouts(), undefined, 'not before the timeout');
  await h.clock.advance(1);
  t.equal(await timeouts(), 1, 'reason timeout');
  t.equal(await h.value('collectorSuccess', { collector: 'stuck' }), 0);
  t.match(h.logs(), /"reason":"timeout".*"msg":"collector failed"/, 'logged once, with its reason');
  await h.clock.advance(INTERVAL_MS - 2000);
  t.equal(stuck.calls.length, 2, 'the next interval runs again: the timed-out run no longer holds the slot');
  t.equal(await h.value('collectorSkipped', { collector: 'stuck' }), undefined, 'nothing was skipped');
  stuck.calls[0]!.run.resolve(sample('test_late', 1));
  await settle();
  t.notMatch(await h.exposition.text('prometheus'), /test_late/, 'a result arriving after its timeout is never served');
});

t.test('a snapshot leaves /metrics once it is older than the staleness limit', async (t) => {
  const once = scripted('once');
  const h = harness(t, [once.definition], { PGVIGIL_STALENESS_SECONDS: '30' });
  const staleMs = Math.max(h.config.PGVIGIL_STALENESS_SECONDS * 1000, 2 * INTERVAL_MS);
  const polled = h.poller.pollCollector('once');
  await settle();
  once.calls[0]!.run.resolve(sample('test_once', 3));
  await polled;
  t.match(await h.exposition.text('prometheus'), /^test_once 3$/m, 'fresh: served');
  await h.clock.advance(staleMs);
  t.match(await h.exposition.text('prometheus'), /^test_once 3$/m, 'still served at exactly the limit');
  await h.clock.advance(1);
  t.notMatch(await h.exposition.text('prometheus'), /test_once/, 'gone 1 ms later, with nothing else happening');
});

t.test('per-database collectors run on every discovered database; a database gone leaves the snapshot', async (t) => {
  const perDb = scripted('perdb', 'database', true);
  const h = harness(t, [perDb.definition]);
  const answer = async () => {
    await settle();
    for (const call of perDb.calls.splice(0)) call.run.resolve(sample('test_rows', 1, { datname: call.ctx.datname }));
    await settle();
  };
  let polled = h.poller.pollAll();
  await answer();
  await answer();
  await polled;
  let text = await h.exposition.text('prometheus');
  t.match(text, /^test_rows\{datname="app"\} 1$/m);
  t.match(text, /^test_rows\{datname="shop"\} 1$/m);
  h.state.databases = ['app'];
  polled = h.poller.pollAll();
  await answer();
  await polled;
  text = await h.exposition.text('prometheus');
  t.match(text, /^test_rows\{datname="app"\} 1$/m, 'the remaining database is still served');
  t.notMatch(text, /datname="shop"/, 'the dropped database left /metrics');
});

t.test('a failure is logged at warn once, then at debug, and its recovery once', async (t) => {
  let fail = true;
  const flaky: CollectorDefinition = {
    name: 'flaky',
    description: 'fails until told otherwise',
    scope: 'cluster',
    defaultIntervalSeconds: INTERVAL_MS / 1000,
    needsPostgres: false,
    create: () => ({
      collect: async () => {
        if (fail) throw Object.assign(new Error('permission denied for function pg_ls_waldir'), { code: '42501' });
        return sample('test_flaky', 1);
      },
    }),
  };
  const h = harness(t, [flaky]);
  const lines = (msg: string) =>
    h
      .logs()
      .split('\n')
      .filter((l) => l.includes(`"msg":"${msg}"`));
  for (let i = 0; i < 3; i++) await h.poller.pollCollector('flaky');
  t.equal(lines('collector failed').length, 1, 'one warning for three failures');
  t.equal(lines('collector failed again').length, 2, 'the repeats at debug');
  const warning = /"level":40.*"reason":"permission".*"message":"collector flaky failed: permission denied/;
  t.match(lines('collector failed')[0], warning, 'warn, reason, and where and what failed');
  t.match(
    lines('collector failed')[0],
    /\\ncaused by: Error: permission denied for function pg_ls_waldir\\n\s+at /,
    'with the stack',
  );
  t.equal(await h.value('collectorErrors', { collector: 'flaky', reason: 'permission' }), 3, 'every failure counted');
  fail = false;
  await h.poller.pollCollector('flaky');
  await h.poller.pollCollector('flaky');
  t.equal(lines('collector recovered').length, 1, 'recovery logged once');
});

t.test('pg_up and readiness follow the pool’s contact reports', async (t) => {
  const idle = scripted('idle');
  const h = harness(t, [idle.definition], { PGVIGIL_STALENESS_SECONDS: '30' });
  t.equal(h.poller.isReady(), false, 'not ready before PostgreSQL answered');
  for (const listener of h.state.contact) listener(true);
  t.equal(h.poller.isReady(), true);
  t.equal(await h.value('up', {}), 1);
  await h.clock.advance(30_001);
  t.equal(h.poller.isReady(), false, 'not ready once the last answer is older than the staleness limit');
  for (const listener of h.state.contact) listener(false);
  t.equal(await h.value('up', {}), 0);
});

t.test('a database dropped between discovery and poll leaves quietly, at once, for every collector', async (t) => {
  const gone = () => Object.assign(new Error('database "shop" does not exist'), { code: '3D000' });
  const tried: string[] = [];
  const perDatabase = (name: string): CollectorDefinition => ({
    name,
    description: 'answers for listed databases, fails as PostgreSQL does for a dropped one',
    scope: 'database',
    defaultIntervalSeconds: INTERVAL_MS / 1000,
    create: () => ({
      async collect(ctx) {
        tried.push(`${name}:${ctx.datname}`);
        if (ctx.datname === 'shop' && dropped) throw gone();
        return sample(`test_${name}`, 1, { datname: ctx.datname });
      },
    }),
  });
  let dropped = false;
  const h = harness(t, [perDatabase('first'), perDatabase('second')]);
  await h.poller.pollAll();
  let text = await h.exposition.text('prometheus');
  t.match(text, /^test_second\{datname="shop"\} 1$/m, 'both databases served');
  dropped = true;
  h.state.databases = ['app'];
  tried.length = 0;
  await h.poller.pollCollector('first');
  text = await h.exposition.text('prometheus');
  t.notMatch(text, /datname="shop"/, "every collector's series of the dropped database left at once");
  t.match(text, /^test_first\{datname="app"\} 1$/m, 'the other database is unaffected');
  t.match(text, /^test_second\{datname="app"\} 1$/m);
  t.equal(await h.value('collectorSuccess', { collector: 'first' }), 1, 'not a failure of the collector');
  t.equal(await h.value('collectorErrors', { collector: 'first' }), undefined, 'nor counted as an error');
  await h.poller.pollCollector('second');
  t.same(tried, ['first:app', 'first:shop', 'second:app'], 'rediscovered at once: the next run skips it');
  const lines = h.logs().split('\n');
  t.equal(lines.filter((l) => l.includes('"datname":"shop"') && l.includes('"level":30')).length, 1, 'one info line');
  t.equal(lines.filter((l) => l.includes('"level":40')).length, 0, 'no warning');
});

t.test('a "does not exist" failure on a database still listed is a failure', async (t) => {
  const h = harness(t, [
    {
      name: 'renamed',
      description: 'fails with 3D000 although discovery still lists the database',
      scope: 'database',
      defaultIntervalSeconds: INTERVAL_MS / 1000,
      create: () => ({
        async collect(ctx) {
          if (ctx.datname === 'shop') throw Object.assign(new Error('no such database'), { code: '3D000' });
          return sample('test_renamed', 1, { datname: ctx.datname });
        },
      }),
    },
  ]);
  await h.poller.pollAll();
  t.equal(await h.value('collectorSuccess', { collector: 'renamed' }), 0);
  t.equal(await h.value('collectorErrors', { collector: 'renamed', reason: 'other' }), 1);
});
