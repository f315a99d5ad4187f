import t from 'tap';
import { PGBOUNCER_FAMILIES, pgbouncerFamilies } from '../../src/collectors/pgbouncer.js';
import type { Family } from '../../src/exposition/families.js';

// Hand-written SHOW rows as different PgBouncer versions send them: columns are found by name,
// unknown ones are ignored, missing ones only drop their own sample. PgBouncer adds and renames
// SHOW columns between versions, and a parser bound to fixed positions breaks on each one.

const sample = (families: Family[], name: string, labels: Record<string, string> = {}) => {
  const f = families.find((x) => x.name === name);
  if (f === undefined) throw new Error(`no family ${name}`);
  const s = f.samples.filter((x) => Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s.length === 1 && 'value' in s[0]! ? s[0].value : s.length === 0 ? undefined : NaN;
};

const empty = { pools: [], stats: [], databases: [], lists: [], config: [], version: [] };

t.test('1.18 rows with unknown extra columns, in another order', async (t) => {
  const families = pgbouncerFamilies({
    ...empty,
    pools: [
      {
        future_column: 'whatever',
        pool_mode: 'transaction',
        maxwait_us: 250000,
        maxwait: 3,
        cl_waiting: 4,
        cl_active: 2,
        database: 'app',
        user: 'web',
        sv_active: 2,
        sv_idle: 0,
        sv_used: 1,
        sv_tested: 0,
        sv_login: 0,
        cl_active_cancel_req: 0,
        cl_waiting_cancel_req: 0,
        sv_active_cancel: 0,
        sv_being_canceled: 0,
        load_balance_hosts: null,
      },
    ],
    stats: [
      {
        database: 'app',
        total_query_count: '12',
        total_xact_count: '10',
        total_wait_time: '1500000',
        avg_wait_time: '250',
        total_client_parse_count: '7',
      },
    ],
    databases: [
      {
        name: 'app',
        database: 'appdb',
        pool_size: 20,
        max_connections: 0,
        current_connections: 3,
        server_lifetime: 3600,
        paused: 0,
        disabled: 0,
      },
    ],
    lists: [
      { list: 'pools', items: 2 },
      { list: 'used_clients', items: 6 },
    ],
    config: [
      { key: 'max_client_conn', value: '500', default: '100', changeable: 'yes' },
      { key: 'listen_addr', value: '*' },
    ],
    version: [{ version: 'PgBouncer 1.18.0' }],
  });
  const pool = { database: 'app', user: 'web' };
  t.equal(sample(families, 'pgbouncer_pools_client_waiting_connections', pool), 4);
  t.equal(sample(families, 'pgbouncer_pools_client_maxwait_seconds', pool), 3.25, 'maxwait + maxwait_us');
  t.equal(sample(families, 'pgbouncer_pools_server_used_connections', pool), 1);
  t.equal(
    sample(families, 'pgbouncer_stats_queries_pooled_total', { database: 'app' }),
    12,
    'numeric strings accepted',
  );
  t.equal(
    sample(families, 'pgbouncer_stats_client_wait_seconds_total', { database: 'app' }),
    1.5,
    'microseconds to seconds',
  );
  t.equal(sample(families, 'pgbouncer_stats_avg_wait_seconds', { database: 'app' }), 0.00025);
  t.equal(
    sample(families, 'pgbouncer_databases_pool_size', { database: 'app' }),
    20,
    'SHOW DATABASES name is the database label',
  );
  t.equal(sample(families, 'pgbouncer_lists_items', { list: 'used_clients' }), 6);
  t.equal(sample(families, 'pgbouncer_config_max_client_connections'), 500);
  t.equal(sample(families, 'pgbouncer_version_info', { version: '1.18.0' }), 1);
  t.same(
    families.map((f) => f.name),
    PGBOUNCER_FAMILIES,
    'the same families, in the same order, whatever the columns',
  );
  for (const f of families) for (const s of f.samples) t.notOk(Object.keys(s.labels).includes('future_column'));
});

t.test('older and newer column sets: renamed columns by alias, missing ones dropped, nothing throws', async (t) => {
  const families = pgbouncerFamilies({
    ...empty,
    // Before 1.8: total_requests and avg_query; no cancel split, no maxwait_us.
    pools: [
      {
        database: 'old',
        user: 'u',
        cl_active: 1,
        cl_waiting: 0,
        cl_cancel_req: 0,
        sv_active: 1,
        sv_idle: 0,
        sv_used: 0,
        sv_tested: 0,
        sv_login: 0,
        maxwait: 0,
      },
    ],
    stats: [
      { database: 'old', total_requests: 99, avg_query: 2000 },
      // 1.23+: total_server_assignment_count.
      { database: 'new', total_query_count: 5, total_server_assignment_count: 4, avg_query_time: 'not-a-number' },
    ],
  });
  t.equal(sample(families, 'pgbouncer_stats_queries_pooled_total', { database: 'old' }), 99, 'total_requests alias');
  t.equal(
    sample(families, 'pgbouncer_stats_avg_query_duration_seconds', { database: 'old' }),
    0.002,
    'avg_query alias',
  );
  t.equal(sample(families, 'pgbouncer_stats_server_assignments_total', { database: 'new' }), 4);
  t.equal(
    sample(families, 'pgbouncer_stats_server_assignments_total', { database: 'old' }),
    undefined,
    'absent column: no sample',
  );
  t.equal(
    sample(families, 'pgbouncer_stats_avg_query_duration_seconds', { database: 'new' }),
    undefined,
    'non-numeric value: no sample',
  );
  t.equal(
    sample(families, 'pgbouncer_pools_client_maxwait_seconds', { database: 'old' }),
    0,
    'maxwait without maxwait_us',
  );
  t.equal(sample(families, 'pgbouncer_pools_client_waiting_cancel_connections', { database: 'old' }), undefined);
  t.equal(sample(families, 'pgbouncer_version_info'), undefined, 'no version row: no info sample');
  const counters = families.filter((f) => f.type === 'counter').map((f) => f.name);
  t.ok(counters.length > 0 && counters.every((n) => n.endsWith('_total')), 'counters end in _total');
  t.ok(families.filter((f) => f.type === 'gauge').every((f) => !f.name.endsWith('_total')));
});
