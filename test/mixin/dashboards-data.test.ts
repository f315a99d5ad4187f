import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import pg from 'pg';
import { instrumentPool } from 'pgvigil-pool';
import { loadQueryClasses } from 'pgvigil-pool/classes';
import client from 'prom-client';
import t from 'tap';
import { pgbouncerAvailable, startPgbouncer } from '../../src/dev/pgbouncer.js';
import { loop } from '../e2e/faults.js';
import { concreteQuery, everyDashboardQuery, type PanelQuery, ruleFilePaths } from '../helpers/mixin.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { pollIntervalOf, rangeSelectors, windowSeconds } from '../helpers/poll-windows.js';
import { testPostgres } from '../helpers/postgres.js';
import { type PromSample, startPrometheusStack } from '../helpers/prometheus-stack.js';
import { type RangeSeries, rangeQuery, windowGaps } from '../helpers/range-gaps.js';

// Every dashboard query against a real Prometheus, as a deployment runs it: the 15 s scrape
// interval of deploy/prometheus/prometheus.yml, pgvigil with its default poll intervals, the alert
// pack's recording rules unchanged, an application pool timed by query class going through
// PgBouncer, a replication slot and the data volume. Every panel must show numbers, except those
// whose description says what else they need ("Needs: a standby.") when this test does not make it.
// Then the rates over families polled every 60 s must hold steady under a steady workload at every
// 15 s step, and would not with Grafana's $__rate_interval (one poll at a 15 s scrape).
// About five minutes: the steadiness check reads 150 s of steps, each two 60 s polls after the start.

const SLO_BOARD = 'pgvigil-slo';
const DEADLINE_MS = 240_000;
const APP = 'dash-app';
/** What this test provides, as panels name it after "Needs:". */
const PROVIDED = ['an application instrumented with pgvigil/pool', 'a replication slot'];
const PGBOUNCER_PROVIDED = 'PgBouncer (PGVIGIL_PGBOUNCER_URL)';
/** Families polled this slowly by default get the steadiness check: $__rate_interval holds one poll of them. */
const SLOW_POLL_SECONDS = 60;
/** Steps of the steadiness check: 15 s apart over 150 s, so each of a 60 s poll's four phases shows twice. */
const STEADY_RANGE_SECONDS = 150;
const SCRAPE_SECONDS = 15;

const finite = (samples: PromSample[]) => samples.some((s) => Number.isFinite(Number(s.value[1])));
const where = (q: PanelQuery) => `${q.dashboard} "${q.panel}" ${q.refId}`;
/** Queries whose rate reads a family polled every 60 s or slower over a short window ($__rate_interval included). */
const overSlowPolls = (expr: string) =>
  rangeSelectors(expr).some(
    ({ name, range }) =>
      (pollIntervalOf(name)?.seconds ?? 0) >= SLOW_POLL_SECONDS &&
      range !== '$__range' &&
      (windowSeconds(range) ?? 0) < 3600,
  );
/** The query as it was with Grafana's window: four scrapes, 1m at a 15 s scrape. */
const withRateInterval = (expr: string) => expr.replace(/(\{[^}]*\})\[\d+[sm]\]/g, '$1[1m]');

t.test(
  'dashboard queries against Prometheus at a 15 s scrape of pgvigil at default intervals',
  { timeout: 720_000 },
  async (t) => {
    const db = await testPostgres(t, { needsControl: true });
    await db.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    await db.sql("SELECT pg_create_physical_replication_slot('dashboard_slot', true)");
    await db.sql(`CREATE TABLE accounts (id int PRIMARY KEY, email text NOT NULL);
                INSERT INTO accounts SELECT i, 'user' || i || '@example.com' FROM generate_series(1, 1000) i;
                ANALYZE accounts;`);
    const dir = mkdtempSync(join(tmpdir(), 'pgvigil-dashboard-data-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const classesFile = join(dir, 'classes.yml');
    writeFileSync(
      classesFile,
      [
        'classes:',
        '  - name: login',
        '    objective_seconds: 0.05',
        '    target: 0.999',
        '    match: { tables: [accounts] }',
        // Slow now and then, so the board has statements over their objective to rank.
        '  - name: report',
        '    objective_seconds: 0.05',
        '    match: { query: "generate_series" }',
        '',
      ].join('\n'),
    );

    const provided = [...PROVIDED];
    const bouncer = pgbouncerAvailable() ? await startPgbouncer({ postgresPort: db.cluster!.port }) : undefined;
    if (bouncer !== undefined) {
      t.teardown(() => bouncer.destroy());
      provided.push(PGBOUNCER_PROVIDED);
    } else t.comment('PgBouncer not installed: its panels may stay empty');
    const exporter = await startPgvigil(
      t,
      db.url,
      {
        PGVIGIL_QUERY_CLASSES_FILE: classesFile,
        PGVIGIL_LOG_LEVEL: 'warn',
        PGVIGIL_DATA_VOLUME_PATH: db.cluster!.dataDir,
        PGVIGIL_EXPECTED_POOL_SIZES: `${APP}=2`,
        ...(bouncer !== undefined ? { PGVIGIL_PGBOUNCER_URL: bouncer.adminUrl } : {}),
      },
      { listen: true },
    );
    const startedAt = Date.now();
    const registry = new client.Registry();
    const pool = new pg.Pool({ connectionString: bouncer?.url() ?? db.url, application_name: APP, max: 2 });
    t.teardown(() => pool.end());
    const { classes } = loadQueryClasses(classesFile);
    instrumentPool(pool, { registry, name: 'main', classes });
    const appServer = createServer((_req, res) => {
      void registry.metrics().then((body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body));
    });
    await new Promise<void>((r) => appServer.listen(0, '127.0.0.1', r));
    t.teardown(() => new Promise((r) => appServer.close(r)));

    const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
    const stack = await startPrometheusStack(t, {
      targets: { pgvigil: [`127.0.0.1:${port(exporter.pgvigil.app.server)}`], app: [`127.0.0.1:${port(appServer)}`] },
      rules: Object.fromEntries(ruleFilePaths().map((f) => [basename(f), readFileSync(f, 'utf8')])),
      intervalSeconds: 15,
    });

    let i = 0;
    const workload = loop(async () => {
      i++;
      await pool.query('SELECT email FROM accounts WHERE id = $1', [i % 1000]);
      if (i % 200 === 0) await pool.query('SELECT pg_sleep(0.08) FROM generate_series(1, 1)');
    });
    t.teardown(() => workload.stop());

    const queries = everyDashboardQuery();
    const slo = queries.filter((q) => q.dashboard === SLO_BOARD);
    t.ok(slo.length >= 12, `${slo.length} SLO board queries`);
    const deadline = Date.now() + DEADLINE_MS;
    const missing: string[] = [];
    for (const query of slo) {
      const expr = concreteQuery(query.expr);
      try {
        await eventually(async () => finite(await stack.query(expr)), Math.max(1000, deadline - Date.now()), 'numbers');
      } catch {
        missing.push(`${query.panel} ${query.refId}: ${expr}`);
      }
    }
    t.same(missing, [], 'every SLO board query returns numbers');

    // Every other panel shows data, unless it needs what this test does not make (a standby, an alert
    // firing, an index problem, a week of history): those must say so, and are listed.
    const conditional: string[] = [];
    for (const query of queries.filter((q) => q.dashboard !== SLO_BOARD)) {
      const expr = concreteQuery(query.expr);
      const required = query.needs === undefined || provided.some((p) => query.needs!.startsWith(p));
      const has = async () =>
        finite(
          await stack.query(expr).catch((err: Error) => {
            t.fail(`${where(query)}: ${err.message}`);
            return [];
          }),
        );
      if (!required) {
        if (!(await has())) conditional.push(`${where(query)} (needs ${query.needs})`);
        continue;
      }
      const ok = await eventually(has, Math.max(1000, deadline - Date.now()), 'data').then(
        () => true,
        () => false,
      );
      t.ok(ok, `${where(query)} shows numbers${query.needs === undefined ? '' : ` (needs ${query.needs}: provided)`}`);
    }
    t.comment(`without data, as their descriptions allow:\n  ${conditional.join('\n  ')}`);

    // Steadiness: the workload runs throughout, so a rate it drives never reads 0 and a ratio of such
    // rates never turns NaN, at any 15 s step of the last 150 s. A step's window must reach back to a
    // second poll: wait until the oldest step is two 60 s polls past pgvigil's start.
    const steady = queries.filter((q) => overSlowPolls(q.expr));
    t.ok(steady.length >= 5, `${steady.length} queries read families polled every ${SLOW_POLL_SECONDS} s`);
    const readyAt = startedAt + (2 * SLOW_POLL_SECONDS + STEADY_RANGE_SECONDS + SCRAPE_SECONDS) * 1000;
    await new Promise((r) => setTimeout(r, Math.max(0, readyAt - Date.now())));
    const end = Math.floor(Date.now() / 1000);
    const range = (expr: string): Promise<RangeSeries[]> =>
      rangeQuery(stack.prometheusUrl, concreteQuery(expr), end - STEADY_RANGE_SECONDS, end, SCRAPE_SECONDS);
    let driven = 0;
    for (const query of steady) {
      const series = await range(query.expr);
      t.same(windowGaps(series, end - STEADY_RANGE_SECONDS, end, SCRAPE_SECONDS), [], `${where(query)}: steady`);
      if (!series.some((s) => s.values.some(([, v]) => Number(v) > 0))) continue;
      // The same query with $__rate_interval (one poll per window) must show the gaps this test exists for.
      driven++;
      const back = await range(withRateInterval(query.expr));
      t.not(
        windowGaps(back, end - STEADY_RANGE_SECONDS, end, SCRAPE_SECONDS).length,
        0,
        `${where(query)}: with $__rate_interval it reads 0 or NaN at some steps`,
      );
    }
    t.ok(driven >= 3, `${driven} of them driven by the workload, checked both ways`);
  },
);
