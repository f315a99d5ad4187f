import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { instrumentPool } from 'pgvigil-pool';
import { loadQueryClasses } from 'pgvigil-pool/classes';
import client from 'prom-client';
import t from 'tap';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { intervalVariable } from '../../src/config.js';
import { freePort } from '../../src/dev/local-cluster.js';
import { LocalPgbouncer, pgbouncerAvailable } from '../../src/dev/pgbouncer.js';
import { concreteQuery, everyDashboardQuery } from '../helpers/mixin.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { startPrometheusStack } from '../helpers/prometheus-stack.js';
import { spawnMain } from '../helpers/spawn-main.js';
import { createStandby } from '../helpers/standby.js';
import { AlertWatch } from './alert-watch.js';
import { E2E_FOR, E2E_RANGE, e2eRuleFiles } from './e2e-rules.js';
import {
  coldLookups,
  deadlock,
  disconnectStandby,
  exhaustPool,
  failArchiving,
  fillVolume,
  hogConnections,
  holdLock,
  holdPgbouncerPool,
  loop,
  loseSlot,
  pauseReplay,
  repairSchema,
  setUpSchema,
  slowClassedStatements,
} from './faults.js';

// The whole chain with real components on loopback: PostgreSQL (primary + streaming standby),
// PgBouncer, pgvigil on both servers, an application pool instrumented with pgvigil/pool, Debian's
// prometheus (1 s scrape and evaluation) and prometheus-alertmanager. Real faults are made and the
// matching alert must arrive at Alertmanager (GET /api/v2/alerts) and later resolve. Then every
// dashboard query must return data from that Prometheus.
//
// The rules are the files of alerts/ with `for:` and range windows scaled to seconds and a few
// thresholds lowered (see e2e-rules.ts). A third pgvigil runs as its own process (src/main.ts), so
// the exporter itself can be stopped. Runs when CI=true or PGVIGIL_E2E=1; about 3-5 minutes.

const enabled = process.env.CI === 'true' || process.env.PGVIGIL_E2E === '1';
const skip = enabled
  ? false
  : 'end-to-end alert test: set PGVIGIL_E2E=1 (CI sets CI=true) to run it ' +
    '(~4 min, needs prometheus and prometheus-alertmanager)';

const FIRE_MS = 60_000;
const RESOLVE_MS = 60_000;
const APP = 'shop-app';
const APP_POOL_SIZE = 3;
const BOUNCER_POOL_SIZE = 2;

/** A small tmpfs as the "data volume", so free space can really run out. Undefined when mounting is not allowed. */
function mountSmallVolume(t: {
  comment(...a: unknown[]): void;
  teardown(fn: () => unknown): void;
}): string | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-e2e-volume-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    const why = (r.stderr || r.error?.message || '').trim();
    t.comment(`low-disk fault skipped: cannot mount a tmpfs (${why}); needs root with CAP_SYS_ADMIN`);
    return undefined;
  }
  t.teardown(() => {
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(join(dir, 'base'), Buffer.alloc(3 * 1024 * 1024));
  return dir;
}

t.test('alerts fire and resolve on real faults; dashboards have data', { skip, timeout: 420_000 }, async (t) => {
  // archive_command succeeds (archiving nothing) unless the flag file exists. The server runs as
  // postgres, so the flag's directory must be searchable by it.
  const archiveDir = mkdtempSync(join(tmpdir(), 'pgvigil-e2e-archive-'));
  chmodSync(archiveDir, 0o755);
  t.teardown(() => rmSync(archiveDir, { recursive: true, force: true }));
  const archiveFlag = join(archiveDir, 'fail');
  // shared_buffers far below the index of cold.big, so random lookups there read from outside them.
  const primary = await testPostgres(t, {
    needsControl: true,
    settings: {
      max_connections: 40,
      deadlock_timeout: "'200ms'",
      shared_buffers: "'2MB'",
      archive_mode: 'on',
      archive_command: `'test ! -e ${archiveFlag}'`,
    },
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
      // One slow call every 5 s: below the SLO alerts' minimum traffic, but always some calls
      // over the objective for the SLO board's "statements by calls over the objective".
      '  - name: report',
      '    objective_seconds: 0.05',
      '    match: { query: "generate_series" }',
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
    bouncer = await LocalPgbouncer.start({ postgresPort: primary.cluster!.port, poolSize: BOUNCER_POOL_SIZE });
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
  const onPrimary = await startPgvigil(
    t,
    primary.url,
    {
      ...common,
      PGVIGIL_QUERY_CLASSES_FILE: classesFile,
      PGVIGIL_EXPECTED_POOL_SIZES: `${APP}=${APP_POOL_SIZE}`,
      ...(bouncer !== undefined ? { PGVIGIL_PGBOUNCER_URL: bouncer.adminUrl } : {}),
    },
    { listen: true },
  );
  const onStandby = await startPgvigil(t, standby.url, common, { listen: true });
  // A third pgvigil, as its own process (src/main.ts) in a job of its own, to be stopped for real.
  // It serves pg_up and its own metrics only: with every collector on, at their production
  // intervals, its copies of the standing conditions would outlive their repair in this test.
  const sidecarEnv = {
    DATABASE_URL: standby.url,
    PGVIGIL_DISABLED_COLLECTORS: collectorDefinitions.map((d) => d.name).join(','),
    PGVIGIL_HOST: '127.0.0.1',
    PGVIGIL_PORT: String(await freePort()),
    PGVIGIL_LOG_LEVEL: 'warn',
  };
  let sidecar = spawnMain(sidecarEnv);
  t.teardown(async () => {
    sidecar.child.kill('SIGTERM');
    await sidecar.exited;
  });
  // Loading the TypeScript sources takes a busy machine many seconds.
  const sidecarListening = () =>
    eventually(
      async () =>
        (await fetch(`http://127.0.0.1:${sidecarEnv.PGVIGIL_PORT}/metrics`).catch(() => undefined))?.ok === true,
      120_000,
      'the pgvigil sidecar listening',
    );
  await sidecarListening();
  const port = (p: typeof onPrimary) => (p.pgvigil.app.server.address() as AddressInfo).port;

  // The application: a node-postgres pool instrumented with pgvigil/pool, served on its own /metrics.
  const registry = new client.Registry();
  const appPool = new pg.Pool({
    connectionString: primary.urlFor('shop', 'app'),
    application_name: APP,
    max: APP_POOL_SIZE,
    idleTimeoutMillis: 1000,
    connectionTimeoutMillis: 1000,
  });
  appPool.on('error', () => undefined);
  t.teardown(() => appPool.end());
  const { classes } = loadQueryClasses(classesFile);
  instrumentPool(appPool, { registry, name: 'main', classes });
  const appServer = createServer((_req, res) => {
    void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
  });
  await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise((r) => appServer.close(r)));

  const stack = await startPrometheusStack(t, {
    targets: {
      pgvigil: [`127.0.0.1:${port(onPrimary)}`, `127.0.0.1:${port(onStandby)}`],
      'pgvigil-sidecar': [`127.0.0.1:${sidecarEnv.PGVIGIL_PORT}`],
      app: [`127.0.0.1:${(appServer.address() as AddressInfo).port}`],
    },
    rules: e2eRuleFiles(),
  });
  t.comment(`rules loaded with for: ${E2E_FOR} and ranges of ${E2E_RANGE} (production: minutes)`);
  const watch = new AlertWatch(stack, (line) => t.comment(line));
  watch.start();
  t.teardown(() => watch.stop());
  await eventually(
    async () => {
      const targets = await stack.targetsUp();
      return targets.length === 4 && targets.every((x) => x.up);
    },
    30_000,
    'the four scrape targets up',
  );

  // The demo-like workload runs all along: lookups (class lookup), fast checkout statements (class
  // checkout), sequential scans, inserts, and the same through PgBouncer; a slow report now and then.
  const bouncerPool =
    bouncer === undefined ? undefined : new pg.Pool({ connectionString: bouncer.url('shop'), max: 2 });
  bouncerPool?.on('error', () => undefined);
  t.teardown(() => bouncerPool?.end());
  let i = 0;
  const workload = loop(async () => {
    i++;
    await appPool.query('SELECT note FROM orders WHERE id = $1', [i % 5000]);
    await appPool.query('SELECT customer FROM orders WHERE id = $1 AND pg_sleep(0) IS NOT NULL', [i % 5000]);
    await appPool.query('SELECT count(*) FROM events WHERE kind = $1', [`k${i % 10}`]);
    await appPool.query('INSERT INTO events (kind, payload) VALUES ($1, $2)', [`k${i % 10}`, 'x']);
    await bouncerPool?.query('SELECT customer FROM orders WHERE id = $1', [i % 5000]);
  });
  t.teardown(() => workload.stop());
  // On a connection of its own, held all along: a pool opening and closing one would free and take
  // slots while the connections-exhausted fault holds every other one.
  const reporter = await primary.client('shop', { application_name: 'e2e-report' });
  reporter.on('error', () => undefined); // PostgreSQL is stopped near the end
  const reports = setInterval(
    () => void reporter.query('SELECT pg_sleep(0.08) FROM generate_series(1, 1)').catch(() => undefined),
    5_000,
  );
  t.teardown(() => clearInterval(reports));

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
  const faults = [
    expectFireAndResolve('a lock held', 'PostgresBlockedSessions', { datname: 'shop' }, () => holdLock(primary), [
      'PostgresIdleInTransaction',
      ['PostgresIdleInTransactionBlocking', { datname: 'shop', application_name: 'e2e-holder' }],
      'PostgresLongRunningTransaction',
      'PostgresSlowQueries',
    ]),
    // The page resolves once the fast checkout calls of the workload have filled the short windows again.
    expectFireAndResolve(
      'pg_sleep in a classed statement',
      'PostgresQueryClassErrorBudgetBurn',
      { class: 'checkout', severity: 'critical' },
      () => slowClassedStatements(primary),
    ),
    expectFireAndResolve(
      'random lookups on an index larger than shared_buffers',
      'PostgresIndexHitRatioLow',
      { datname: 'cold' },
      () => coldLookups(primary),
    ),
    expectFireAndResolve(
      'two transactions locking in opposite order',
      'PostgresDeadlocks',
      { datname: 'shop' },
      async () => {
        const { error, undo } = await deadlock(primary);
        t.match(error?.message, /deadlock detected/, 'PostgreSQL detected the deadlock');
        return undo;
      },
    ),
    expectFireAndResolve(
      'standby replay paused while the primary writes',
      'PostgresReplicationLag',
      { lag: 'bytes' },
      () => pauseReplay(primary, standby.url),
      [['PostgresReplicationLag', { lag: 'time' }]],
    ),
    expectFireAndResolve(
      'the application pool exhausted',
      'PostgresClientPoolAcquireTimeouts',
      { pool: 'main' },
      () => exhaustPool(appPool, APP_POOL_SIZE),
      ['PostgresClientPoolAcquireSlow', 'PostgresClientPoolSaturated'],
    ),
    expectFireAndResolve(
      'archive_command failing',
      'PostgresWALArchivingFailing',
      { instance: `127.0.0.1:${port(onPrimary)}` },
      () => failArchiving(primary, archiveFlag),
    ),
    expectFireAndResolve(
      'the pgvigil sidecar process stopped',
      'PostgresExporterDown',
      { job: 'pgvigil-sidecar' },
      async () => {
        sidecar.child.kill('SIGTERM');
        t.equal(await sidecar.exited, 0, 'pgvigil exited cleanly on SIGTERM');
        return async () => {
          sidecar = spawnMain(sidecarEnv);
          await sidecarListening();
        };
      },
    ),
  ];
  if (volume !== undefined) {
    faults.push(
      expectFireAndResolve(
        'the data volume nearly full',
        'PostgresDiskSpaceLow',
        { severity: 'critical' },
        () => fillVolume(volume),
        [['PostgresDiskSpaceLow', { severity: 'warning' }], 'PostgresDiskWillFillSoon'],
      ),
    );
  }
  if (bouncer !== undefined) {
    const url = bouncer.url('shop');
    faults.push(
      expectFireAndResolve(
        'every PgBouncer server connection held',
        'PostgresPgBouncerClientsWaiting',
        { database: 'shop' },
        () => holdPgbouncerPool(url, BOUNCER_POOL_SIZE),
      ),
    );
  }
  for (const r of await Promise.allSettled(faults))
    if (r.status === 'rejected') t.fail(String(r.reason?.message ?? r.reason));

  // ---- The standby's WAL receiver stopped: seen on the standby and, as a standby missing from
  // pg_stat_replication, on the primary. Alone, because it would hide the replay-lag fault.
  await expectFireAndResolve(
    'the standby disconnected from its primary',
    'PostgresStandbyDisconnected',
    { seen_from: 'standby' },
    () => disconnectStandby(standby.url),
    [['PostgresStandbyDisconnected', { seen_from: 'primary', application_name: standby.applicationName }]],
  );

  // ---- Connections exhausted: ordinary roles are refused (pgvigil, a superuser, still gets in).
  await expectFireAndResolve(
    'connections held until the server refuses more',
    'PostgresConnectionsExhausted',
    {},
    async () => {
      const { held, refusal, undo } = await hogConnections(primary);
      t.match(refusal, /remaining connection slots|too many clients/, `refused after ${held} extra connections`);
      return undo;
    },
    ['PostgresConnectionsNearLimit'],
  );

  // ---- Every dashboard panel returns data from this Prometheus, after the workload.
  const panelsWithoutData: string[] = [];
  const queries = everyDashboardQuery();
  for (const query of queries) {
    if (bouncer === undefined && query.needs?.startsWith('PgBouncer')) continue;
    // A fresh Prometheus has no week of history to compare with.
    if (query.needs?.startsWith('Prometheus data from the baseline week')) continue;
    if (volume === undefined && query.expr.includes('pg_volume_')) continue;
    const expr = concreteQuery(query.expr);
    const ok = async () => (await stack.query(expr)).length > 0;
    try {
      // A panel over $__range (1m here) may need a whole range to refill after the faults before
      // it: the statements over their objective, for one, come from a slow call every 5 s that a
      // fault may have held back. So each panel gets a range and a few scrapes to show data.
      await eventually(ok, 70_000, 'data');
    } catch {
      panelsWithoutData.push(`${query.dashboard} "${query.panel}" ${query.refId}: ${expr}`);
    }
  }
  t.same(panelsWithoutData, [], `every dashboard query and variable returns data (${queries.length} queries)`);

  // ---- PostgreSQL stopped: PostgresDown. Last, because it resets every counter.
  // Collectors fail while it is down; after the restart every one recovers (per-database
  // collectors reconnect to their database), which resolves PostgresExporterCollectorFailing.
  const stoppedAt = Date.now();
  await expectFireAndResolve(
    'PostgreSQL stopped',
    'PostgresDown',
    {},
    async () => {
      await primary.cluster!.stop();
      return async () => {
        await primary.cluster!.start();
      };
    },
    ['PostgresExporterCollectorFailing'],
  );
  // The postmaster's start time changed: the restart is seen (perhaps already over while the
  // collectors recovered: the watch remembers it), and the alert ends with its window.
  await eventually(
    () => [...watch.events].some(([key, e]) => key.startsWith('PostgresRestarted{') && e.firedAt >= stoppedAt),
    FIRE_MS,
    'PostgresRestarted fired after the restart',
  );
  await watch.resolved('PostgresRestarted', {}, RESOLVE_MS);
  t.pass('PostgreSQL restarted: PostgresRestarted fired and resolved');
  seen.push('PostgresRestarted');

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
  for (const name of standing)
    t.ok(
      watch.events.has([...watch.events.keys()].find((k) => k.startsWith(`${name}{`)) ?? ''),
      `${name} was seen firing`,
    );
  await workload.stop();
  await repairSchema(primary);
  for (const name of standing) await watch.resolved(name, {}, RESOLVE_MS);
  t.pass(`repaired: ${standing.join(', ')} resolved`);

  // ---- A slot past max_slot_wal_keep_size loses its WAL at a checkpoint. Last: it lowers a
  // setting and makes requested checkpoints.
  await expectFireAndResolve(
    'a slot nobody consumes past max_slot_wal_keep_size',
    'PostgresReplicationSlotLost',
    { slot_name: 'doomed', severity: 'critical' },
    () => loseSlot(primary, 'doomed', standby.slot),
  );

  watch.stop();
  const fired = [...watch.events.entries()].map(
    ([key, e]) => `${key}${e.resolvedAt !== undefined ? ' (resolved)' : ' (still firing)'}`,
  );
  t.comment(`alerts seen at Alertmanager during the run:\n  ${fired.sort().join('\n  ')}`);
  t.comment(`fault alerts seen firing and resolving: ${[...new Set(seen)].sort().join(', ')}`);
});
