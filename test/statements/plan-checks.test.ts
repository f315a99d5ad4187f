import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { createMonitoringRole } from '../helpers/monitoring-role.js';
import { eventually, startPgvigil, type TestPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Plan checks against ground truth: a statement of class "lookup" that filters a large table on
// an unindexed column is flagged with the table it scans sequentially; one that finds rows by the
// primary key is not; a small table scanned sequentially is not "large". Creating the missing
// index changes the plan, which is counted as a plan change. The pg_monitor-only role is refused
// (result="permission") until it is granted pg_read_all_data. Before 16: said once, no families.

const CLASSES = `
classes:
  - name: lookup
    objective_seconds: 0.05
    match:
      query: '^SELECT .* FROM (accounts|tiny) WHERE'
`;

interface ApiPlan {
  result: string;
  seq_scans_on_large_tables: string[];
  indexes: string[];
  changed_at: string | null;
}

async function apiPlans(exporter: TestPgvigil): Promise<Map<string, ApiPlan | null>> {
  const res = await exporter.pgvigil.app.inject({ method: 'GET', url: '/api/statements' });
  const body = JSON.parse(res.body) as { statements: { query: string | null; plan: ApiPlan | null }[] };
  return new Map(body.statements.map((s) => [s.query ?? '', s.plan]));
}

const BY_EMAIL = 'SELECT id FROM accounts WHERE email = $1';
const BY_ID = 'SELECT email FROM accounts WHERE id = $1';
const TINY = 'SELECT x FROM tiny WHERE x = $1';

for (const major of testMajors([14, 16, 18])) {
  t.test(`PostgreSQL ${major}`, async (t) => {
    const pg = await testPostgres(t, { major, settings: { autovacuum: 'off' } });
    await pg.sql('CREATE DATABASE app');
    await pg.sql('CREATE EXTENSION pg_stat_statements', [], 'app');
    await pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, email text, pad text);
       INSERT INTO accounts SELECT g, 'u' || g, repeat('x', 200) FROM generate_series(1, 20000) g;
       CREATE TABLE tiny (x int); INSERT INTO tiny VALUES (1), (2);
       ANALYZE accounts; ANALYZE tiny`,
      [],
      'app',
    );
    // The application has its own role, as pgvigil has: pg_stat_statements keys entries by role, and
    // the entries it records for pgvigil's EXPLAINs (the planned statement, nested) must not be
    // the application's.
    await pg.sql(`CREATE ROLE web LOGIN PASSWORD 'web'; GRANT SELECT ON accounts, tiny TO web`, [], 'app');
    const app = await pg.client('app', { connectionString: pg.urlFor('app', 'web', 'web') });
    for (let i = 0; i < 3; i++) {
      await app.query(BY_EMAIL, [`u${i}`]);
      await app.query(BY_ID, [i]);
      await app.query(TINY, [i]);
    }
    const dir = t.testdir({ 'classes.yaml': CLASSES });
    const env = {
      PGVIGIL_QUERY_CLASSES_FILE: `${dir}/classes.yaml`,
      PGVIGIL_PLAN_SEQ_SCAN_MIN_TABLE_BYTES: '1000000',
      PGVIGIL_PLAN_CHECKS_PER_POLL: '100',
      // Every statement a member of the top N, so /api/statements lists each one.
      PGVIGIL_STATEMENTS_TOP_N: '1000',
      PGVIGIL_STATEMENTS_MAX_SERIES: '100000',
    };

    if (major < 16) {
      const exporter = await startPgvigil(t, pg.urlFor('app'), env);
      await exporter.poll('statements');
      const m = await exporter.poll('statements');
      t.equal(m.find('pg_statement_class_plan_checked_statements').length, 0, 'no plan families before 16');
      const said = exporter
        .logs()
        .split('\n')
        .filter((l) => l.includes('not available before PostgreSQL 16'));
      t.equal(said.length, 1, 'said once, not every poll');
      t.equal((await apiPlans(exporter)).get(BY_EMAIL), null, '/api/statements: plan null');
      return;
    }

    const [size] = await pg.sql<{ bytes: number }>(`SELECT pg_relation_size('accounts')::float8 AS bytes`, [], 'app');
    t.ok(size!.bytes > 1_000_000, `ground truth: accounts is large (${size!.bytes} bytes)`);

    const exporter = await startPgvigil(t, pg.urlFor('app'), env);
    let m: ParsedMetrics = await exporter.poll('statements');
    await eventually(
      async () => {
        m = await exporter.poll('statements');
        return m.value('pg_statement_class_plan_checked_statements', { class: 'lookup' }) === 3;
      },
      15_000,
      'the three lookup statements planned',
    );
    t.equal(m.value('pg_statement_class_plan_seq_scan_statements', { class: 'lookup' }), 1, 'only BY_EMAIL');
    const info = m.find('pg_statement_plan_seq_scan_info', { class: 'lookup' });
    t.same(
      info.map((s) => s.labels.relations),
      ['public.accounts'],
      'the info series names the table',
    );
    t.equal(info[0]?.labels.datname, 'app');
    let plans = await apiPlans(exporter);
    t.same(plans.get(BY_EMAIL)?.seq_scans_on_large_tables, ['public.accounts']);
    t.same(plans.get(BY_ID)?.indexes, ['accounts_pkey'], 'the primary-key lookup uses its index');
    t.same(plans.get(TINY)?.seq_scans_on_large_tables, [], 'a seq scan on a small table is not flagged');
    t.equal(plans.get(BY_EMAIL)?.changed_at, null);
    t.equal(m.value('pg_statement_class_plan_changes_total', { class: 'lookup' }), 0);

    // The missing index: the relation changed, so the plan is checked again and its shape differs.
    await pg.sql('CREATE INDEX accounts_email ON accounts (email)', [], 'app');
    await eventually(
      async () => {
        m = await exporter.poll('statements');
        return m.value('pg_statement_class_plan_changes_total', { class: 'lookup' }) === 1;
      },
      15_000,
      'plan change counted',
    );
    t.equal(m.value('pg_statement_class_plan_seq_scan_statements', { class: 'lookup' }), 0, 'no seq scan left');
    t.equal(m.find('pg_statement_plan_seq_scan_info').length, 0);
    plans = await apiPlans(exporter);
    t.same(plans.get(BY_EMAIL)?.indexes, ['accounts_email']);
    t.not(plans.get(BY_EMAIL)?.changed_at, null, '/api/statements shows when the plan changed');
    t.equal(m.value('pgvigil_statements_plan_checks_total', { result: 'permission' }), 0);

    // pg_monitor alone may not plan other roles' tables: counted and said, never a failed poll.
    await createMonitoringRole(pg, 'watcher', 'w');
    const watcher = await startPgvigil(t, pg.urlFor('app', 'watcher', 'w'), {
      ...env,
      PGVIGIL_PLAN_RECHECK_SECONDS: '1',
    });
    await watcher.poll('statements');
    m = await watcher.poll('statements');
    t.equal(m.value('pgvigil_collector_success', { collector: 'statements' }), 1, 'the poll still succeeds');
    t.ok(m.value('pgvigil_statements_plan_checks_total', { result: 'permission' })! >= 3, 'refused: permission');
    t.equal(m.value('pg_statement_class_plan_checked_statements', { class: 'lookup' }), 0);
    t.match(watcher.logs(), /plan checks: permission denied/);
    t.equal((await apiPlans(watcher)).get(BY_EMAIL)?.result, 'permission');

    if (major >= 14) {
      await pg.sql('GRANT pg_read_all_data TO watcher');
      await eventually(
        async () => {
          m = await watcher.poll('statements');
          return m.value('pg_statement_class_plan_checked_statements', { class: 'lookup' }) === 3;
        },
        15_000,
        'planned once granted pg_read_all_data',
      );
    }
    await app.end();
  });
}
