import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { parse, stringify } from 'yaml';
// @ts-expect-error: plain JavaScript module without types (run by node directly)
import { rulesFile } from '../../deploy/compat/generate.mjs';
// @ts-expect-error: plain JavaScript module without types (run by node directly)
import { COMPAT_FAMILIES } from '../../deploy/compat/mapping.mjs';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { intervalVariable } from '../../src/config.js';
import { freePort } from '../../src/dev/local-cluster.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { type PrometheusStack, startPrometheusStack } from '../helpers/prometheus-stack.js';

// A postgres_exporter user's day one, with real components: one PostgreSQL scraped by pgvigil and
// by Debian's prometheus-postgres-exporter (with its example queries.yaml, where the table
// families come from) into one Prometheus that has the compatibility rules of deploy/compat/
// loaded. For every family the rules promise, a query shaped as dashboards and alerts use it
// (rate, sum by, a filter on state or mode) must return data from pgvigil's job; a sample of
// values must agree with postgres_exporter's on the same database within the stated tolerance.
// Then the irate question: a counter polled slower than it is scraped, against one polled as fast.
// Scrape and poll intervals are 1 s, rule evaluation 2 s (production: 15 s or more), ranges 20 s.
// Runs when CI=true or PGVIGIL_E2E=1; about 90 s.

const enabled = process.env.CI === 'true' || process.env.PGVIGIL_E2E === '1';
const EXPORTER = 'prometheus-postgres-exporter';
const QUERIES_YAML = '/usr/share/doc/prometheus-postgres-exporter/examples/queries.yaml';
const installed = spawnSync(EXPORTER, ['--version'], { encoding: 'utf8' }).status === 0;
const skip = !enabled
  ? 'postgres_exporter compatibility test: set PGVIGIL_E2E=1 (CI sets CI=true) to run it (~90 s)'
  : false;

interface CompatFamily {
  name: string;
  labels: string[];
  from: string[];
  kind: string;
}
const families = COMPAT_FAMILIES as CompatFamily[];

const RANGE = '20s';
const PGVIGIL = 'job="pgvigil"';
const EXPORTER_JOB = 'job="postgres_exporter"';

/**
 * The dashboard-shaped query for a family, for one job's selector. Counters go through rate() and
 * a sum by their labels, the way boards chart them; activity and locks filter on a state and a
 * mode as boards do; gauges are summed by their labels.
 */
function dashboardQuery(f: CompatFamily, job: string): string {
  const by = `sum by (${f.labels.join(', ')})`;
  switch (f.name) {
    case 'pg_stat_activity_count':
      return `sum by (datname, state) (pg_stat_activity_count{${job}, state=~"active|idle in transaction"})`;
    case 'pg_locks_count':
      return `sum by (mode) (pg_locks_count{${job}, mode="accessexclusivelock"})`;
    case 'pg_stat_activity_max_tx_duration':
      return `max by (datname) (pg_stat_activity_max_tx_duration{${job}, datname="postgres"})`;
    case 'pg_static':
      return `count by (short_version) (pg_static{${job}})`;
  }
  const counter = /_total$|_count$/.test(f.name) || f.from.some((s) => s.endsWith('_total'));
  if (counter && f.kind !== 'same') return `${by} (rate(${f.name}{${job}}[${RANGE}]))`;
  return `${by} (${f.name}{${job}})`;
}

/** A value both exporters report, the query that reads it (per job), and how close they must be. */
interface Agreement {
  readonly what: string;
  readonly query: (job: string) => string;
  /** Allowed difference, relative to postgres_exporter's value (0: equal), or absolute when `abs`. */
  readonly tolerance: number;
  readonly abs?: boolean;
}

const AGREEMENTS: readonly Agreement[] = [
  {
    what: 'numbackends of postgres',
    query: (j) => `sum(pg_stat_database_numbackends{${j}, datname="postgres"})`,
    tolerance: 0,
  },
  {
    what: 'commit rate of postgres',
    query: (j) => `sum(rate(pg_stat_database_xact_commit{${j}, datname="postgres"}[${RANGE}]))`,
    tolerance: 0.15,
  },
  {
    what: 'buffer hit rate of postgres',
    query: (j) => `sum(rate(pg_stat_database_blks_hit{${j}, datname="postgres"}[${RANGE}]))`,
    tolerance: 0.15,
  },
  {
    what: 'database size of postgres',
    query: (j) => `pg_database_size_bytes{${j}, datname="postgres"}`,
    tolerance: 0.01,
  },
  {
    what: 'sessions idle in transaction',
    query: (j) => `sum(pg_stat_activity_count{${j}, datname="postgres", state="idle in transaction"})`,
    tolerance: 0,
  },
  {
    what: 'longest transaction (s)',
    query: (j) => `max(pg_stat_activity_max_tx_duration{${j}, datname="postgres"})`,
    tolerance: 3,
    abs: true,
  },
  {
    what: 'AccessExclusiveLock count',
    query: (j) => `sum(pg_locks_count{${j}, datname="postgres", mode="accessexclusivelock"})`,
    tolerance: 0,
  },
  { what: 'max_connections', query: (j) => `pg_settings_max_connections{${j}}`, tolerance: 0 },
  { what: 'shared_buffers (bytes)', query: (j) => `pg_settings_shared_buffers_bytes{${j}}`, tolerance: 0 },
  { what: 'random_page_cost', query: (j) => `pg_settings_random_page_cost{${j}}`, tolerance: 0 },
  { what: 'max_locks_per_transaction', query: (j) => `pg_settings_max_locks_per_transaction{${j}}`, tolerance: 0 },
  {
    what: 'autovacuum_vacuum_cost_delay (s)',
    query: (j) => `pg_settings_autovacuum_vacuum_cost_delay_seconds{${j}}`,
    tolerance: 0,
  },
  {
    what: 'live tuples of customers',
    query: (j) => `sum(pg_stat_user_tables_n_live_tup{${j}, relname="customers"})`,
    tolerance: 0,
  },
  {
    what: 'insert rate into orders',
    query: (j) => `sum(rate(pg_stat_user_tables_n_tup_ins{${j}, relname="orders"}[${RANGE}]))`,
    tolerance: 0.15,
  },
  { what: 'archived WAL segments', query: (j) => `sum(pg_stat_archiver_archived_count{${j}})`, tolerance: 0 },
  { what: 'replication lag on a primary', query: (j) => `sum(pg_replication_lag{${j}})`, tolerance: 0, abs: true },
  { what: 'timed checkpoints', query: (j) => `sum(pg_stat_bgwriter_checkpoints_timed_total{${j}})`, tolerance: 0 },
];

async function queryRange(stack: PrometheusStack, expr: string, seconds: number): Promise<number[]> {
  const end = Date.now() / 1000;
  const url =
    `${stack.prometheusUrl}/api/v1/query_range?query=${encodeURIComponent(expr)}` +
    `&start=${end - seconds}&end=${end}&step=1`;
  const body = (await (await fetch(url)).json()) as { data: { result: { values: [number, string][] }[] } };
  return (body.data.result[0]?.values ?? []).map(([, v]) => Number(v));
}

/** The rule file with its groups evaluated every `interval` (here: twice the scrape interval). */
function withInterval(text: string, interval: string): string {
  const doc = parse(text) as { groups: Record<string, unknown>[] };
  return stringify({ groups: doc.groups.map((g) => ({ ...g, interval })) });
}

const one = async (stack: PrometheusStack, expr: string) => {
  const r = await stack.query(expr);
  return r.length === 0 ? undefined : Number(r[0]!.value[1]);
};

t.test(
  'postgres_exporter dashboards and alerts find their families in pgvigil',
  { skip, timeout: 240_000 },
  async (t) => {
    if (!installed) throw new Error(`${EXPORTER} is not installed (apt-get install prometheus-postgres-exporter)`);
    const pg = await testPostgres(t, {
      needsControl: true,
      settings: { archive_mode: 'on', archive_command: "'true'", track_io_timing: 'on' },
    });
    await pg.sql('CREATE TABLE orders (id serial PRIMARY KEY, amount int)');
    await pg.sql('INSERT INTO orders (amount) SELECT g FROM generate_series(1, 1000) g');
    await pg.sql('CREATE TABLE customers (id int PRIMARY KEY, name text)');
    await pg.sql(`INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 500) g`);
    await pg.sql('CREATE TABLE ledger (id int)');
    await pg.sql(`SELECT pg_create_physical_replication_slot('compat_slot')`);
    await pg.sql('SELECT pg_switch_wal()');
    // A reset gives pg_stat_database a stats_reset time; it also clears vacuum times, so vacuum after.
    await pg.sql('SELECT pg_stat_reset()');
    await pg.sql('VACUUM ANALYZE customers');
    await pg.sql('VACUUM orders');

    // Standing facts a board shows: a session idle in transaction holding an AccessExclusiveLock.
    const holder = await pg.client('postgres', { application_name: 'holder' });
    await holder.query('BEGIN');
    await holder.query('LOCK TABLE ledger IN ACCESS EXCLUSIVE MODE');
    // A steady write load: about 50 commits a second.
    const writer = await pg.client('postgres', { application_name: 'writer' });
    let writing = true;
    const load = (async () => {
      while (writing) {
        await writer.query('INSERT INTO orders (amount) VALUES (1)');
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    t.teardown(async () => {
      writing = false;
      await load;
    });

    const fast = Object.fromEntries(collectorDefinitions.map((d) => [intervalVariable(d.name), '1']));
    const pgvigil = await startPgvigil(t, pg.url, { ...fast, PGVIGIL_LOG_LEVEL: 'warn' }, { listen: true });
    // The same exporter polling pg_stat_database three times slower than it is scraped.
    const slow = await startPgvigil(
      t,
      pg.url,
      { ...fast, [intervalVariable('stat_database')]: '3', PGVIGIL_LOG_LEVEL: 'warn' },
      { listen: true },
    );
    const port = (p: typeof pgvigil) => (p.pgvigil.app.server.address() as AddressInfo).port;
    // A probe running only the collectors of counters boards take irate() of, every second, as its
    // own role, so pg_stat_statements tells what fast polls cost the database.
    await pg.sql('CREATE ROLE probe LOGIN SUPERUSER');
    await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await pg.sql('SELECT pg_stat_statements_reset()');
    const probeStart = Date.now();
    const cheap = ['stat_database', 'bgwriter', 'checkpointer'];
    const others = collectorDefinitions.map((d) => d.name).filter((n) => !cheap.includes(n));
    const probeEnv = { ...fast, PGVIGIL_DISABLED_COLLECTORS: others.join(','), PGVIGIL_LOG_LEVEL: 'warn' };
    await startPgvigil(t, pg.urlFor('postgres', 'probe'), probeEnv, { schedule: true });

    const exporterPort = await freePort();
    const exporter: ChildProcess = spawn(
      EXPORTER,
      [`--web.listen-address=127.0.0.1:${exporterPort}`, `--extend.query-path=${QUERIES_YAML}`],
      {
        env: {
          PATH: process.env.PATH ?? '',
          DATA_SOURCE_NAME: `host=127.0.0.1 port=${new URL(pg.url).port} user=postgres dbname=postgres sslmode=disable`,
        },
        stdio: 'ignore',
      },
    );
    t.teardown(() => {
      exporter.kill('SIGTERM');
    });

    const stack = await startPrometheusStack(t, {
      targets: {
        pgvigil: [`127.0.0.1:${port(pgvigil)}`],
        pgvigil_slow_poll: [`127.0.0.1:${port(slow)}`],
        pgvigil_scraped_2s: [`127.0.0.1:${port(pgvigil)}`],
        postgres_exporter: [`127.0.0.1:${exporterPort}`],
      },
      jobIntervalSeconds: { pgvigil_scraped_2s: 2 },
      rules: { 'postgres-exporter-compat.yml': withInterval(readFileSync(rulesFile, 'utf8'), '2s') },
    });
    await eventually(
      async () => (await stack.targetsUp()).filter((x) => x.up).length === 4,
      30_000,
      'all four targets up',
    );
    // Long enough for 20 s rates over recorded series, with margin.
    await eventually(
      async () => ((await queryRange(stack, `pg_stat_database_xact_commit{${PGVIGIL}}`, 40)).length ?? 0) >= 28,
      60_000,
      '28 s of recorded commit counters',
    );

    // 1. Every promised family answers a dashboard-shaped query from pgvigil's job.
    const rows: string[] = [];
    let withData = 0;
    let onExporter = 0;
    for (const f of families) {
      const mine = await stack.query(dashboardQuery(f, PGVIGIL));
      const theirs = await stack.query(dashboardQuery(f, EXPORTER_JOB));
      t.ok(mine.length > 0, `${f.name}: ${dashboardQuery(f, PGVIGIL)} returns data`);
      if (mine.length > 0) withData++;
      if (theirs.length > 0) onExporter++;
      rows.push(`${f.name}: pgvigil ${mine.length} series, postgres_exporter ${theirs.length}`);
    }
    t.comment(
      `${families.length} families promised, ${withData} with data from pgvigil, ${onExporter} from postgres_exporter`,
    );
    for (const r of rows) t.comment(r);

    // 2. Values agree with postgres_exporter's on the same database.
    const agreement: string[] = [];
    for (const a of AGREEMENTS) {
      const [mine, theirs] = [await one(stack, a.query(PGVIGIL)), await one(stack, a.query(EXPORTER_JOB))];
      t.ok(mine !== undefined && theirs !== undefined, `${a.what}: both exporters answer`);
      if (mine === undefined || theirs === undefined) continue;
      const diff = Math.abs(mine - theirs);
      const allowed = a.abs === true ? a.tolerance : a.tolerance * Math.abs(theirs);
      const shown = a.abs === true ? `±${a.tolerance}` : `±${a.tolerance * 100} %`;
      t.ok(diff <= allowed, `${a.what}: pgvigil ${mine}, postgres_exporter ${theirs} (tolerance ${shown})`);
      agreement.push(`| ${a.what} | ${+mine.toPrecision(6)} | ${+theirs.toPrecision(6)} | ${shown} |`);
    }
    // postgres_exporter 0.11 reports 0 for its example queries' timestamps (last_vacuum of a table
    // vacuumed above included): this one is checked against pg_stat_user_tables instead.
    const [vacuumed] = await pg.sql<{ at: number }>(
      `SELECT extract(epoch FROM last_vacuum)::float8 AS at FROM pg_stat_user_tables WHERE relname = 'customers'`,
    );
    const lastVacuum = await one(stack, `max(pg_stat_user_tables_last_vacuum{${PGVIGIL}, relname="customers"})`);
    t.ok(Math.abs((lastVacuum ?? 0) - vacuumed!.at) <= 3, `last_vacuum ${lastVacuum} = SQL ${vacuumed!.at} ±3 s`);
    agreement.push(`| last vacuum of customers (unix time) | ${lastVacuum} | SQL: ${vacuumed!.at} | ±3 |`);
    const version = async (job: string) => (await stack.query(`pg_static{${job}}`))[0]?.metric.short_version;
    const [myVersion, theirVersion] = [await version(PGVIGIL), await version(EXPORTER_JOB)];
    t.equal(myVersion, theirVersion, `pg_static short_version ${myVersion} as postgres_exporter's`);
    agreement.push(`| pg_static short_version | ${myVersion} | ${theirVersion} | equal |`);
    t.comment('| value | pgvigil | postgres_exporter | tolerance |');
    for (const line of agreement) t.comment(line);

    // 3. irate() divides the last two samples' difference. A counter polled faster than it is
    // scraped has a fresh value at every scrape; polled three times slower it repeats, and irate
    // reads 0, then about three times the true rate. A recording rule copies the sample it finds at
    // each evaluation: evaluated as often as its source is scraped, an evaluation that falls within a
    // scrape's jitter copies a sample twice; evaluated every two scrapes, it always finds a new one.
    const irate = (job: string, name: string) => `sum(irate(${name}{job="${job}", datname="postgres"}[5s]))`;
    const truth = (await one(
      stack,
      `sum(rate(pg_stat_database_xact_commit{${EXPORTER_JOB}, datname="postgres"}[${RANGE}]))`,
    ))!;
    const summary = async (job: string, name = 'pg_stat_database_xact_commit_total') => {
      const points = await queryRange(stack, irate(job, name), 20);
      const zeros = points.filter((v) => v === 0).length;
      const peak = Math.max(...points) / truth;
      return { points: points.length, zeros, peak };
    };
    const faster = await summary('pgvigil_scraped_2s');
    const same = await summary('pgvigil');
    const slower = await summary('pgvigil_slow_poll');
    const recordedSame = await summary('pgvigil', 'pg_stat_database_xact_commit');
    const recordedFaster = await summary('pgvigil_scraped_2s', 'pg_stat_database_xact_commit');
    const line = (what: string, s: typeof same) =>
      `irate[5s] of commits, ${what}: ${s.zeros}/${s.points} points at 0, peak ${s.peak.toFixed(2)}× the rate`;
    t.comment(line('poll 1 s, scrape 2 s', faster));
    t.comment(line('poll 1 s, scrape 1 s', same));
    t.comment(line('poll 3 s, scrape 1 s', slower));
    t.comment(line('compat rule, poll 1 s, scrape 1 s, evaluation 2 s', recordedSame));
    t.comment(line('compat rule, poll 1 s, scrape 2 s, evaluation 2 s', recordedFaster));
    t.equal(faster.zeros, 0, 'polled faster than scraped: irate never 0');
    t.ok(slower.zeros >= slower.points * 0.4, 'polled three times slower than scraped: irate is 0 at most points');
    t.equal(recordedSame.zeros, 0, 'a rule evaluated every two scrapes of its source: irate of its copy never 0');

    // What fast polls cost the database: everything the probe exporter ran, from pg_stat_statements.
    const [cost] = await pg.sql<{ ms: number; calls: number }>(
      `SELECT coalesce(sum(total_exec_time), 0)::float8 AS ms, coalesce(sum(calls), 0)::float8 AS calls
       FROM pg_stat_statements WHERE userid = 'probe'::regrole`,
    );
    const minutes = (Date.now() - probeStart) / 60_000;
    t.comment(
      'stat_database, bgwriter and checkpointer polled every second: ' +
        `${(cost!.ms / minutes).toFixed(1)} ms of database ` +
        `time per minute (${cost!.calls} statements in ${(minutes * 60).toFixed(0)} s)`,
    );
  },
);
