import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import client from 'prom-client';
import t from 'tap';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { intervalVariable } from '../../src/config.js';
import { LocalPgbouncer, pgbouncerAvailable } from '../../src/dev/pgbouncer.js';
import { instrumentPool } from '../../src/pool-instrumentation.js';
import { concreteQuery, dashboardQueries } from '../helpers/mixin.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres, type TestPostgres } from '../helpers/postgres.js';
import { startPrometheusStack } from '../helpers/prometheus-stack.js';
import { createStandby } from '../helpers/standby.js';
import { AlertWatch } from './alert-watch.js';
import { E2E_FOR, E2E_RANGE, e2eRuleFiles } from './e2e-rules.js';

// The whole chain with real components on loopback: PostgreSQL (primary + streaming standby),
// PgBouncer, pgvigil on both servers, an application pool instrumented with pgvigil/pool, Debian's
// prometheus (1 s scrape and evaluation) and prometheus-alertmanager. Real faults are made and the
// matching alert must arrive at Alertmanager (GET /api/v2/alerts) and later resolve. Then every
// dashboard query must return data from that Prometheus.
//
// The rules are the files of alerts/ with `for:` and range windows scaled to seconds and a few
// thresholds lowered (see e2e-rules.ts). Runs when CI=true or PGVIGIL_E2E=1; about 2-3 minutes.

const enabled = process.env.CI === 'true' || process.env.PGVIGIL_E2E === '1';
const skip = enabled ? false : 'end-to-end alert test: set PGVIGIL_E2E=1 (CI sets CI=true) to run it (~3 min, needs prometheus and prometheus-alertmanager)';

const FIRE_MS = 60_000;
const RESOLVE_MS = 60_000;
const APP = 'shop-app';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `step` again and again until stopped; errors of single iterations are expected (faults). */
function loop(step: () => Promise<unknown>): { stop(): Promise<void> } {
  let running = true;
  const done = (async () => {
    while (running) {
      await step().catch(() => undefined);
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}

async function setUpSchema(pg: TestPostgres): Promise<void> {
  await pg.sql('CREATE ROLE app LOGIN');
  await pg.sql('CREATE DATABASE shop OWNER app');
  await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements', [], 'shop');
  await pg.sql(
    `CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text);
     INSERT INTO orders SELECT i, i % 500, 'note ' || i FROM generate_series(1, 5000) i;
     CREATE INDEX orders_customer_idx ON orders (customer);
     CREATE INDEX orders_customer_copy_idx ON orders (customer);
     CREATE INDEX orders_note_idx ON orders (note);
     CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text);
     INSERT INTO events (kind, payload) SELECT 'k' || (i % 10), repeat('x', 100) FROM generate_series(1, 5000) i;
     CREATE TABLE stock (id int PRIMARY KEY, n int NOT NULL);
     INSERT INTO stock SELECT i, 0 FROM generate_series(1, 10) i;
     CREATE TABLE churn (id int PRIMARY KEY, n int NOT NULL) WITH (autovacuum_enabled = false);
     INSERT INTO churn SELECT i, 0 FROM generate_series(1, 5000) i;
     GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
     GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;
     ANALYZE;`,
    [],
    'shop',
  );
  // A failed CREATE UNIQUE INDEX CONCURRENTLY leaves an invalid index behind (duplicate customers).
  await pg.sql('CREATE UNIQUE INDEX CONCURRENTLY orders_customer_uniq ON orders (customer)', [], 'shop').catch(() => undefined);
  // Dead tuples autovacuum will not clean (disabled for the table).
  await pg.sql('UPDATE churn SET n = n + 1', [], 'shop');
  // A slot nobody consumes: it retains WAL from now on.
  await pg.sql(`SELECT pg_create_physical_replication_slot('abandoned', true)`);
  await pg.sql('CREATE DATABASE cold');
  await pg.sql('CREATE TABLE big (id int PRIMARY KEY, v int); INSERT INTO big SELECT i, i FROM generate_series(1, 200000) i; ANALYZE big', [], 'cold');
}

/** A small tmpfs as the "data volume", so free space can really run out. Undefined when mounting is not allowed. */
function mountSmallVolume(t: { comment(...a: unknown[]): void; teardown(fn: () => unknown): void }): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-e2e-volume-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    t.comment(`low-disk fault skipped: cannot mount a tmpfs (${(r.stderr || r.error?.message || '').trim()}); needs root with CAP_SYS_ADMIN`);
    return undefined;
  }
  t.teardown(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'base'), Buffer.alloc(3 * 1024 * 1024));
  return dir;
}

t.test('alerts fire and resolve on real faults; dashboards have data', { skip, timeout: 290_000 }, async (t) => {
  // shared_buffers far below the index of cold.big, so random lookups there read from outside them.
  const primary = await testPostgres(t, {
    needsControl: true,
    settings: { max_connections: 40, deadlock_timeout: "'200ms'", shared_buffers: "'2MB'" },
  });
  await setUpSchema(primary);
  const standby = await createStandby(t, primary);
  const volume = mountSmallVolume(t);

  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-e2e-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const classesFile = join(dir, 'classes.yml');
  writeFileSync(
    classesFile,
    [
      'classes:',
      '  - name: checkout',
      '    objective_seconds: 0.05',
      '    match: { query: "pg_sleep" }',
      '  - name: lookup',
      '    objective_seconds: 0.05',
      '    match: { tables: [orders] }',
      '',
    ].join('\n'),
  );

  let bouncer: LocalPgbouncer | undefined;
  if (pgbouncerAvailable()) {
    bouncer = await LocalPgbouncer.start({ postgresPort: primary.cluster!.port, poolSize: 2 });
    const b = bouncer;
    t.teardown(() => b.destroy());
  } else t.comment('PgBouncer not installed: PgBouncer fault and panels skipped');

  const fast = Object.fromEntries(collectorDefinitions.map((d) => [intervalVariable(d.name), '1']));
  const common = {
    ...fast,
    PGVIGIL_LOG_LEVEL: 'warn',
    PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: '1',
    PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS: '1',
    PGVIGIL_DATABASE_DISCOVERY_INTERVAL_SECONDS: '1',
    PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES: '0',
    PGVIGIL_SEQ_SCAN_MIN_SCANS: '5',
    PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN: '100',
    ...(volume !== undefined ? { PGVIGIL_DATA_VOLUME_PATH: volume } : {}),
  };
  const onPrimary = await startPgvigil(t, primary.url, {
    ...common,
    PGVIGIL_QUERY_CLASSES_FILE: classesFile,
    PGVIGIL_EXPECTED_POOL_SIZES: `${APP}=3`,
    ...(bouncer !== undefined ? { PGVIGIL_PGBOUNCER_URL: bouncer.adminUrl } : {}),
  }, { listen: true });
  const onStandby = await startPgvigil(t, standby.url, common, { listen: true });
  const port = (p: typeof onPrimary) => (p.pgvigil.app.server.address() as AddressInfo).port;

  // The application: a node-postgres pool instrumented with pgvigil/pool, served on its own /metrics.
  const registry = new client.Registry();
  const appPool = new pg.Pool({
    connectionString: primary.urlFor('shop', 'app'),
    application_name: APP,
    max: 3,
    idleTimeoutMillis: 1000,
    connectionTimeoutMillis: 1000,
  });
  appPool.on('error', () => undefined);
  t.teardown(() => appPool.end());
  instrumentPool(appPool, { registry, name: 'main' });
  const appServer = createServer((_req, res) => {
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => appServer.close(r)));

  const stack = await startPrometheusStack(t, {
    targets: {
      pgvigil: [`127.0.0.1:${port(onPrimary)}`, `127.0.0.1:${port(onStandby)}`],
      app: [`127.0.0.1:${(appServer.address() as AddressInfo).port}`],
    },
    rules: e2eRuleFiles(),
  });
  t.comment(`rules loaded with for: ${E2E_FOR} and ranges of ${E2E_RANGE} (production: minutes)`);
  const watch = new AlertWatch(stack, (line) => t.comment(line));
  watch.start();
  t.teardown(() => watch.stop());
  await eventually(async () => {
    const targets = await stack.targetsUp();
    return targets.length === 3 && targets.every((x) => x.up);
  }, 30_000, 'the three scrape targets up');

  // The demo-like workload runs all along: lookups (class lookup), sequential scans, inserts, and
  // the same through PgBouncer.
  const bouncerPool = bouncer === undefined ? undefined : new pg.Pool({ connectionString: bouncer.url('shop'), max: 2 });
  bouncerPool?.on('error', () => undefined);
  t.teardown(() => bouncerPool?.end());
  let i = 0;
  const workload = loop(async () => {
    i++;
    await appPool.query('SELECT note FROM orders WHERE id = $1', [i % 5000]);
    await appPool.query('SELECT count(*) FROM events WHERE kind = $1', [`k${i % 10}`]);
    await appPool.query('INSERT INTO events (kind, payload) VALUES ($1, $2)', [`k${i % 10}`, 'x']);
    await bouncerPool?.query('SELECT customer FROM orders WHERE id = $1', [i % 5000]);
  });
  t.teardown(() => workload.stop());

  const seen: string[] = [];
  const expectFireAndResolve = async (
    what: string,
    alert: string,
    labels: Record<string, string>,
    fault: () => Promise<() => Promise<void>>,
    also: (string | [string, Record<string, string>])[] = [],
  ) => {
    const others = also.map((o): [string, Record<string, string>] => (typeof o === 'string' ? [o, {}] : o));
    // An alert already active (left from start-up) would prove nothing.
    await watch.resolved(alert, labels, RESOLVE_MS);
    const undo = await fault();
    let fired = false;
    try {
      const a = await watch.firing(alert, labels, FIRE_MS);
      fired = true;
      t.ok(a.annotations.runbook_url?.includes('#'), `${alert}: arrived with its runbook_url`);
      for (const [other, l] of others) await watch.firing(other, l, FIRE_MS);
    } finally {
      await undo();
    }
    t.ok(fired, `${what}: ${alert} fired`);
    await watch.resolved(alert, labels, RESOLVE_MS);
    for (const [other, l] of others) await watch.resolved(other, l, RESOLVE_MS);
    t.pass(`${what}: ${[alert, ...others.map(([o]) => o)].join(', ')} resolved`);
    seen.push(alert, ...others.map(([o]) => o));
  };

  // ---- Faults that can overlap: each touches its own part of the system.
  const faults: Promise<void>[] = [];

  faults.push(
    expectFireAndResolve('a lock held', 'PostgresBlockedSessions', { datname: 'shop' }, async () => {
      const holder = await primary.client('shop', { application_name: 'e2e-holder' });
      await holder.query('BEGIN');
      await holder.query('UPDATE stock SET n = n + 1 WHERE id = 1');
      const waiter = await primary.client('shop', { application_name: 'e2e-waiter' });
      const blocked = waiter.query('UPDATE stock SET n = n + 1 WHERE id = 1').catch(() => undefined);
      return async () => {
        await holder.query('COMMIT');
        await blocked;
        await holder.end();
        await waiter.end();
      };
    }, ['PostgresIdleInTransaction', 'PostgresLongRunningTransaction', 'PostgresSlowQueries']),
  );

  faults.push(
    expectFireAndResolve('pg_sleep in a classed statement', 'PostgresQueryClassSLOBreach', { class: 'checkout' }, async () => {
      const slow = new pg.Pool({ connectionString: primary.urlFor('shop'), max: 4, application_name: 'e2e-slow' });
      const workers = Array.from({ length: 4 }, () => loop(() => slow.query('SELECT pg_sleep(0.2), count(*) FROM orders WHERE id = $1', [1])));
      return async () => {
        await Promise.all(workers.map((w) => w.stop()));
        await slow.end();
      };
    }),
  );

  if (volume !== undefined) {
    faults.push(
      expectFireAndResolve('the data volume nearly full', 'PostgresDiskSpaceLow', { severity: 'critical' }, async () => {
        const s = statfsSync(volume);
        const fill = join(volume, 'fill');
        writeFileSync(fill, Buffer.alloc(Math.max(0, s.bavail * s.bsize - Math.floor(0.03 * s.blocks * s.bsize))));
        return async () => rmSync(fill);
      }),
    );
  }

  faults.push(
    expectFireAndResolve('random lookups on an index larger than shared_buffers', 'PostgresIndexHitRatioLow', { datname: 'cold' }, async () => {
      const cold = new pg.Pool({ connectionString: primary.urlFor('cold'), max: 2, application_name: 'e2e-cold' });
      const readers = Array.from({ length: 2 }, () => loop(() => cold.query('SELECT v FROM big WHERE id = $1', [1 + Math.floor(Math.random() * 200000)])));
      return async () => {
        await Promise.all(readers.map((r) => r.stop()));
        await cold.end();
      };
    }),
  );

  faults.push(
    expectFireAndResolve('two transactions locking in opposite order', 'PostgresDeadlocks', { datname: 'shop' }, async () => {
      const [a, b] = [await primary.client('shop'), await primary.client('shop')];
      await a.query('BEGIN');
      await b.query('BEGIN');
      await a.query('UPDATE stock SET n = n + 1 WHERE id = 2');
      await b.query('UPDATE stock SET n = n + 1 WHERE id = 3');
      const first = a.query('UPDATE stock SET n = n + 1 WHERE id = 3').catch((e: Error) => e);
      const second = b.query('UPDATE stock SET n = n + 1 WHERE id = 2').catch((e: Error) => e);
      const results = await Promise.all([first, second]);
      t.ok(results.some((r) => r instanceof Error && /deadlock/.test(r.message)), 'PostgreSQL detected the deadlock');
      await a.query('ROLLBACK');
      await b.query('ROLLBACK');
      return async () => {
        await a.end();
        await b.end();
      };
    }),
  );

  faults.push(
    expectFireAndResolve('standby replay paused while the primary writes', 'PostgresReplicationLag', { lag: 'bytes' }, async () => {
      const s = new pg.Client({ connectionString: standby.url });
      await s.connect();
      await s.query('SELECT pg_wal_replay_pause()');
      await primary.sql(`INSERT INTO events (kind, payload) SELECT 'bulk', repeat('y', 200) FROM generate_series(1, 20000)`, [], 'shop');
      return async () => {
        await s.query('SELECT pg_wal_replay_resume()');
        await s.end();
      };
    }, [['PostgresReplicationLag', { lag: 'time' }]]),
  );

  faults.push(
    expectFireAndResolve('the application pool exhausted', 'PostgresClientPoolAcquireTimeouts', { pool: 'main' }, async () => {
      // The workload shares the pool: take every connection as it frees up.
      const held: pg.PoolClient[] = [];
      while (held.length < 3) held.push(...(await appPool.connect().then((c) => [c], () => [])));
      const timeouts = loop(() => appPool.query('SELECT 1'));
      return async () => {
        await timeouts.stop();
        for (const c of held) c.release();
      };
    }, ['PostgresClientPoolAcquireSlow', 'PostgresClientPoolSaturated']),
  );

  if (bouncerPool !== undefined && bouncer !== undefined) {
    const b = bouncer;
    faults.push(
      expectFireAndResolve('every PgBouncer server connection held', 'PostgresPgBouncerClientsWaiting', { database: 'shop' }, async () => {
        const holders = [new pg.Client({ connectionString: b.url('shop') }), new pg.Client({ connectionString: b.url('shop') })];
        for (const h of holders) {
          await h.connect();
          await h.query('BEGIN');
          await h.query('SELECT 1');
        }
        const waiters = new pg.Pool({ connectionString: b.url('shop'), max: 3 });
        waiters.on('error', () => undefined);
        const waiting = Array.from({ length: 3 }, () => waiters.query('SELECT 1').catch(() => undefined));
        return async () => {
          for (const h of holders) {
            await h.query('COMMIT');
            await h.end();
          }
          await Promise.all(waiting);
          await waiters.end();
        };
      }),
    );
  }

  const results = await Promise.allSettled(faults);
  for (const r of results) if (r.status === 'rejected') t.fail(String(r.reason?.message ?? r.reason));

  // ---- Connections exhausted: ordinary roles are refused (pgvigil, a superuser, still gets in).
  await expectFireAndResolve('connections held until the server refuses more', 'PostgresConnectionsExhausted', {}, async () => {
    const held: pg.Client[] = [];
    for (let n = 0; n < 60; n++) {
      const c = new pg.Client({ connectionString: primary.urlFor('shop', 'app'), application_name: 'e2e-hog' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        held.push(c);
      } catch (err) {
        t.match((err as Error).message, /remaining connection slots|too many clients/, `refused after ${held.length} extra connections`);
        break;
      }
    }
    return async () => {
      await Promise.all(held.map((c) => c.end().catch(() => undefined)));
    };
  });

  // ---- Every dashboard panel returns data from this Prometheus, after the workload.
  const panelsWithoutData: string[] = [];
  for (const query of dashboardQueries()) {
    if (bouncer === undefined && query.needs?.startsWith('PgBouncer')) continue;
    if (volume === undefined && query.expr.includes('pg_volume_')) continue;
    const expr = concreteQuery(query.expr);
    const ok = async () => (await stack.query(expr)).length > 0;
    try {
      await eventually(ok, 15_000, 'data');
    } catch {
      panelsWithoutData.push(`${query.dashboard} "${query.panel}" ${query.refId}: ${expr}`);
    }
  }
  t.same(panelsWithoutData, [], `every dashboard query returns data (${dashboardQueries().length} queries)`);

  // ---- PostgreSQL stopped: PostgresDown. Last, because it resets every counter.
  await expectFireAndResolve('PostgreSQL stopped', 'PostgresDown', {}, async () => {
    await primary.cluster!.stop();
    return async () => {
      await primary.cluster!.start();
    };
  });

  // After the restart every collector recovers (per-database ones reconnect to their database).
  await watch.resolved('PostgresExporterCollectorFailing', {}, RESOLVE_MS);
  t.pass('every collector recovered after the restart');

  // ---- Standing conditions made by the schema and the workload (an invalid index, unused and
  // duplicate indexes, an abandoned slot, dead tuples, sequential scans): seen firing, then repaired.
  const standing = [
    'PostgresInvalidIndex',
    'PostgresUnusedIndex',
    'PostgresReplicationSlotInactive',
    'PostgresWALRetainedBySlot',
    'PostgresTooManyDeadTuples',
    'PostgresSeqScanHeavyTable',
  ];
  for (const name of standing) t.ok(watch.events.has([...watch.events.keys()].find((k) => k.startsWith(`${name}{`)) ?? ''), `${name} was seen firing`);
  await workload.stop();
  await primary.sql('DROP INDEX CONCURRENTLY orders_customer_uniq', [], 'shop');
  await primary.sql('DROP INDEX orders_customer_idx, orders_customer_copy_idx, orders_note_idx', [], 'shop');
  await primary.sql('VACUUM churn', [], 'shop');
  await primary.sql(`SELECT pg_drop_replication_slot('abandoned')`);
  for (const name of standing) await watch.resolved(name, {}, RESOLVE_MS);
  t.pass(`repaired: ${standing.join(', ')} resolved`);

  watch.stop();
  const fired = [...watch.events.entries()].map(([key, e]) => `${key}${e.resolvedAt !== undefined ? ' (resolved)' : ' (still firing)'}`);
  t.comment(`alerts seen at Alertmanager during the run:\n  ${fired.sort().join('\n  ')}`);
  t.comment(`fault alerts seen firing and resolving: ${[...new Set(seen)].sort().join(', ')}`);
});
