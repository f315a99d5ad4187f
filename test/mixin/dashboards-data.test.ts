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
import { loop } from '../e2e/faults.js';
import { concreteQuery, everyDashboardQuery, ruleFilePaths } from '../helpers/mixin.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { type PromSample, startPrometheusStack } from '../helpers/prometheus-stack.js';

// Every dashboard query against a real Prometheus, as a deployment runs it: the 15 s scrape
// interval of deploy/prometheus/prometheus.yml, pgvigil with its default poll intervals, the alert
// pack's recording rules unchanged, and an application pool timed by query class. Every query must
// run; every panel of the SLO board must return numbers (not NaN). Panels of the other boards that
// stay empty here (standby, PgBouncer, disk volume, events that did not happen) are listed.
// About three minutes: Prometheus needs a few 15 s scrapes of a few 15 s polls.

const SLO_BOARD = 'pgvigil-slo';
const DEADLINE_MS = 240_000;
const APP = 'dash-app';

const finite = (samples: PromSample[]) => samples.some((s) => Number.isFinite(Number(s.value[1])));

t.test(
  'dashboard queries against Prometheus at a 15 s scrape of pgvigil at default intervals',
  { timeout: 420_000 },
  async (t) => {
    const db = await testPostgres(t);
    await db.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
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

    const exporter = await startPgvigil(
      t,
      db.url,
      { PGVIGIL_QUERY_CLASSES_FILE: classesFile, PGVIGIL_LOG_LEVEL: 'warn' },
      { listen: true },
    );
    const registry = new client.Registry();
    const pool = new pg.Pool({ connectionString: db.url, application_name: APP, max: 2 });
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

    // The other boards: every query runs; the empty ones are listed (they need a standby, PgBouncer,
    // a data volume or an event this test does not make).
    const empty: string[] = [];
    for (const query of queries.filter((q) => q.dashboard !== SLO_BOARD)) {
      const samples = await stack.query(concreteQuery(query.expr)).catch((err: Error) => {
        t.fail(`${query.dashboard} "${query.panel}" ${query.refId}: ${err.message}`);
        return [];
      });
      if (samples.length === 0) empty.push(`${query.dashboard} "${query.panel}" ${query.refId}`);
    }
    t.comment(
      `${queries.length - slo.length} other queries ran; without data here: ${empty.length}\n  ${empty.join('\n  ')}`,
    );
  },
);
