import t from 'tap';
import { collectorDefinitions } from '../src/collectors/index.js';
import { testMajors } from './helpers/majors.js';
import type { ParsedMetrics } from './helpers/metrics.js';
import { createMonitoringRole } from './helpers/monitoring-role.js';
import { startPgvigil } from './helpers/pgvigil.js';
import { testPostgres } from './helpers/postgres.js';

// Every collector as the role deploy/sql/pgvigil-role.sql creates (pg_monitor + CONNECT, nothing
// more), on a cluster where PUBLIC lost CONNECT on a database: everything must work, and what
// cannot must degrade with a reason and one log line, not one per poll.

// Collectors switched off by configuration in this test (they read other sources).
const UNCONFIGURED = new Set(['volume', 'pgbouncer']);

t.jobs = 2;
for (const major of testMajors([15, 17]))
  t.test(`all collectors as a pg_monitor-only role on ${major}`, { buffered: true }, async (t) => {
    const pg = await testPostgres(t, { major });
    await pg.sql('CREATE DATABASE shop');
    await pg.sql('REVOKE CONNECT ON DATABASE shop FROM PUBLIC');
    await pg.sql(
      'CREATE TABLE orders (id int primary key, total numeric); ' +
        'INSERT INTO orders SELECT g, g FROM generate_series(1, 1000) g',
      [],
      'shop',
    );
    for (const db of ['postgres', 'shop']) await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements', [], db);
    const { via } = await createMonitoringRole(pg, 'pgvigil_monitor', "s3cret'pw");
    t.comment(`role created through ${via}`);

    const [role] = await pg.sql<{ rolsuper: boolean; memberships: string[]; shop: boolean }>(`
    SELECT r.rolsuper, has_database_privilege(r.rolname, 'shop', 'CONNECT') AS shop,
           array(SELECT b.rolname::text FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid
                 WHERE m.member = r.oid) AS memberships
    FROM pg_roles r WHERE r.rolname = 'pgvigil_monitor'`);
    t.same(role, { rolsuper: false, memberships: ['pg_monitor'], shop: true }, 'only pg_monitor, and CONNECT on shop');
    // The psql-less path (CI images without psql) must create the same role, and re-running is harmless.
    await createMonitoringRole(pg, 'pgvigil_plain', 'pw', { withoutPsql: true });
    await createMonitoringRole(pg, 'pgvigil_plain', 'pw2', { withoutPsql: true });
    const [plain] = await pg.sql(`SELECT rolsuper, rolconnlimit, pg_has_role(oid, 'pg_monitor', 'MEMBER') AS monitor,
    has_database_privilege(oid, 'shop', 'CONNECT') AS shop FROM pg_roles WHERE rolname = 'pgvigil_plain'`);
    t.same(
      plain,
      { rolsuper: false, rolconnlimit: 5, monitor: true, shop: true },
      'same role without psql, re-runnable',
    );

    const exporter = await startPgvigil(t, pg.urlFor('postgres', 'pgvigil_monitor', "s3cret'pw"));
    // A collector works as pg_monitor once it has succeeded on some poll. On a loaded machine a poll
    // may also fail by timeout, which says nothing about privileges: poll again (a bounded number
    // of times) until every enabled collector has either succeeded or failed for permission.
    const permissionErrors = (m: ParsedMetrics, name: string) =>
      m.value('pgvigil_collector_errors_total', { collector: name, reason: 'permission' }) ?? 0;
    const configured = collectorDefinitions.filter((def) => !UNCONFIGURED.has(def.name));
    const succeeded = new Set<string>();
    let m = await exporter.poll();
    for (let polls = 1; ; polls++) {
      for (const def of configured) {
        if (m.value('pgvigil_collector_success', { collector: def.name }) === 1) succeeded.add(def.name);
      }
      const undecided = configured.filter(
        (def) =>
          m.value('pgvigil_collector_enabled', { collector: def.name }) !== 0 &&
          !succeeded.has(def.name) &&
          permissionErrors(m, def.name) === 0,
      );
      if ((polls >= 3 && undecided.length === 0) || polls >= 12) break;
      m = await exporter.poll();
    }

    const degraded: string[] = [];
    for (const def of configured) {
      if (m.value('pgvigil_collector_enabled', { collector: def.name }) === 0) {
        t.comment(`${def.name}: not applicable`);
        continue;
      }
      if (succeeded.has(def.name)) {
        t.pass(`${def.name} works as pg_monitor`);
        continue;
      }
      const permission = permissionErrors(m, def.name);
      degraded.push(def.name);
      t.ok(permission > 0, `${def.name} fails only with reason="permission" (errors: ${permission})`);
    }
    t.same(degraded, [], 'no collector needs more than pg_monitor');

    // Another role's session and its lock are fully visible (pg_read_all_stats, part of pg_monitor).
    const app = await pg.client('shop', { application_name: 'shop-app' });
    await app.query('BEGIN');
    await app.query('LOCK TABLE orders IN SHARE MODE');
    m = await exporter.poll('activity', 'locks');
    t.equal(
      m.sum('pg_stat_activity_connections', {
        datname: 'shop',
        application_name: 'shop-app',
        state: 'idle in transaction',
      }),
      1,
    );
    t.equal(m.value('pg_locks', { datname: 'shop', mode: 'ShareLock', granted: 'true' }), 1, 'pg_locks readable');
    await app.query('COMMIT');
    t.equal(m.value('pg_wal_size_estimated'), 0, 'pg_monitor may run pg_ls_waldir');

    // Three polls: at most one warning per failing collector.
    const warnings = exporter
      .logs()
      .split('\n')
      .filter((l) => l.includes('"collector failed"'));
    const perCollector = new Map<string, number>();
    for (const w of warnings) {
      const name = (JSON.parse(w) as { collector: string }).collector;
      perCollector.set(name, (perCollector.get(name) ?? 0) + 1);
    }
    for (const [name, n] of perCollector) t.ok(n <= 1, `${name}: ${n} warning(s) over three polls`);
    t.notMatch(exporter.logs(), /s3cret/, 'the password never reaches the logs');
  });
