import { gauge, type Family } from '../exposition.js';
import { column, mapRows, text, type ColumnMetric, type Row } from './pgbouncer-columns.js';
import { PgbouncerConsole } from './pgbouncer-console.js';
import type { CollectorDefinition } from './types.js';

// PgBouncer, read from its admin console (PGVIGIL_PGBOUNCER_URL): waiting clients, max wait,
// server connections per pool, traffic and timing totals, pool limits. It runs without a
// PostgreSQL connection, so it keeps reporting when PostgreSQL is down and PgBouncer is up.
// Names follow prometheus-community/pgbouncer_exporter where those are correct. Times arrive in
// microseconds and are exported in seconds. Labels keep PgBouncer's column names: `database` is
// PgBouncer's database name (SHOW DATABASES' `name`), `user` the pool's user.
// Health of this collector: pgvigil_collector_success{collector="pgbouncer"} and
// pgvigil_collector_errors_total{collector="pgbouncer",reason} (reason="connection" while PgBouncer is down).

const US = 1e-6;
const g = (name: string, help: string, value: ColumnMetric['value']): ColumnMetric => ({ name, help, type: 'gauge', value });
const c = (name: string, help: string, value: ColumnMetric['value']): ColumnMetric => ({ name, help, type: 'counter', value });

// SHOW POOLS: one row per (database, user) pool.
const POOLS: readonly ColumnMetric[] = [
  g('pgbouncer_pools_client_active_connections', 'Client connections linked to a server connection or idle with nothing to do (cl_active).', column('cl_active')),
  g('pgbouncer_pools_client_waiting_connections', 'Client connections that sent a query and wait for a server connection (cl_waiting); above 0 the pool is exhausted.', column('cl_waiting')),
  g('pgbouncer_pools_client_active_cancel_connections', 'Clients that forwarded a cancel request to the server, waiting for the answer (cl_active_cancel_req, 1.18+).', column('cl_active_cancel_req')),
  g('pgbouncer_pools_client_waiting_cancel_connections', 'Clients whose cancel request is not yet forwarded (cl_waiting_cancel_req, 1.18+).', column('cl_waiting_cancel_req')),
  g('pgbouncer_pools_server_active_connections', 'Server connections linked to a client (sv_active).', column('sv_active')),
  g('pgbouncer_pools_server_active_cancel_connections', 'Server connections forwarding a cancel request (sv_active_cancel, 1.18+).', column('sv_active_cancel')),
  g('pgbouncer_pools_server_being_canceled_connections', 'Server connections whose query is being cancelled (sv_being_canceled, 1.18+).', column('sv_being_canceled')),
  g('pgbouncer_pools_server_idle_connections', 'Server connections unused and ready for a client (sv_idle).', column('sv_idle')),
  g('pgbouncer_pools_server_used_connections', 'Server connections idle longer than server_check_delay, to be checked before reuse (sv_used).', column('sv_used')),
  g('pgbouncer_pools_server_testing_connections', 'Server connections running server_reset_query or server_check_query (sv_tested).', column('sv_tested')),
  g('pgbouncer_pools_server_login_connections', 'Server connections being opened (sv_login).', column('sv_login')),
  g(
    'pgbouncer_pools_client_maxwait_seconds',
    'How long the oldest waiting client of the pool has waited (maxwait + maxwait_us); above 0 clients queue for a server connection.',
    (col) => {
      const s = col('maxwait');
      return s === undefined ? undefined : s + (col('maxwait_us') ?? 0) * US;
    },
  ),
];

// SHOW STATS: one row per database; totals since PgBouncer started, averages over the last stats_period.
const STATS: readonly ColumnMetric[] = [
  c('pgbouncer_stats_sql_transactions_pooled_total', 'SQL transactions pooled (total_xact_count).', column('total_xact_count')),
  c('pgbouncer_stats_queries_pooled_total', 'SQL queries pooled (total_query_count; total_requests before 1.8).', column(['total_query_count', 'total_requests'])),
  c('pgbouncer_stats_server_assignments_total', 'Times a server connection was assigned to a client (total_server_assignment_count, 1.23+).', column('total_server_assignment_count')),
  c('pgbouncer_stats_received_bytes_total', 'Bytes received from clients (total_received).', column('total_received')),
  c('pgbouncer_stats_sent_bytes_total', 'Bytes sent to clients (total_sent).', column('total_sent')),
  c('pgbouncer_stats_server_in_transaction_seconds_total', 'Time server connections spent in a transaction, idle in transaction included (total_xact_time).', column('total_xact_time', US)),
  c('pgbouncer_stats_queries_duration_seconds_total', 'Time server connections spent running queries (total_query_time).', column('total_query_time', US)),
  c('pgbouncer_stats_client_wait_seconds_total', 'Time clients spent waiting for a server connection (total_wait_time).', column('total_wait_time', US)),
  g('pgbouncer_stats_avg_transaction_duration_seconds', 'Average transaction duration over the last stats_period (avg_xact_time).', column('avg_xact_time', US)),
  g('pgbouncer_stats_avg_query_duration_seconds', 'Average query duration over the last stats_period (avg_query_time; avg_query before 1.8).', column(['avg_query_time', 'avg_query'], US)),
  g('pgbouncer_stats_avg_wait_seconds', 'Average time a client waited for a server connection over the last stats_period (avg_wait_time).', column('avg_wait_time', US)),
];

// SHOW DATABASES: one row per configured (or auto-created) database.
const DATABASES: readonly ColumnMetric[] = [
  g('pgbouncer_databases_pool_size', 'Most server connections per (database, user) pool (pool_size, default_pool_size when not set).', column('pool_size')),
  g('pgbouncer_databases_min_pool_size', 'Server connections kept open per pool even when idle (min_pool_size).', column('min_pool_size')),
  g('pgbouncer_databases_reserve_pool', 'Extra server connections a pool may open when clients wait too long (reserve_pool).', column('reserve_pool')),
  g('pgbouncer_databases_max_connections', 'Most server connections to this database over all pools (max_db_connections; 0 = unlimited).', column('max_connections')),
  g('pgbouncer_databases_current_connections', 'Server connections to this database now, over all pools (current_connections).', column('current_connections')),
  g('pgbouncer_databases_paused', 'Whether the database is paused (1) or not (0).', column('paused')),
  g('pgbouncer_databases_disabled', 'Whether the database is disabled (1) or not (0).', column('disabled')),
];

const LISTS: readonly ColumnMetric[] = [
  g('pgbouncer_lists_items', 'Size of PgBouncer\'s internal lists (SHOW LISTS): databases, users, pools, free_clients, used_clients, login_clients, free_servers, used_servers, dns_* ...', column('items')),
];

// SHOW CONFIG is key/value rows; turned into one row keyed by setting name.
const CONFIG: readonly ColumnMetric[] = [
  g('pgbouncer_config_max_client_connections', 'Most client connections PgBouncer accepts (max_client_conn).', column('max_client_conn')),
  g('pgbouncer_config_max_user_connections', 'Most server connections per user (max_user_connections; 0 = unlimited).', column('max_user_connections')),
  g('pgbouncer_config_max_db_connections', 'Most server connections per database by default (max_db_connections; 0 = unlimited).', column('max_db_connections')),
  g('pgbouncer_config_default_pool_size', 'Server connections per pool when a database sets no pool_size (default_pool_size).', column('default_pool_size')),
];

export const PGBOUNCER_FAMILIES = [...POOLS, ...STATS, ...DATABASES, ...LISTS, ...CONFIG].map((m) => m.name).concat('pgbouncer_version_info');

/** Every PgBouncer family from the rows of the SHOW commands; pure, so unit tests can feed it any column set. */
export function pgbouncerFamilies(show: {
  pools: readonly Row[];
  stats: readonly Row[];
  databases: readonly Row[];
  lists: readonly Row[];
  config: readonly Row[];
  version: readonly Row[];
}): Family[] {
  const settings: Row = Object.fromEntries(show.config.map((r) => [text(r.key), r.value]));
  const version = text(show.version[0]?.version).replace(/^PgBouncer\s+/i, '');
  return [
    ...mapRows(show.pools, (r) => ({ database: text(r.database), user: text(r.user) }), POOLS),
    ...mapRows(show.stats, (r) => ({ database: text(r.database) }), STATS),
    ...mapRows(show.databases, (r) => ({ database: text(r.name) }), DATABASES),
    ...mapRows(show.lists, (r) => ({ list: text(r.list) }), LISTS),
    ...mapRows([settings], () => ({}), CONFIG),
    gauge('pgbouncer_version_info', 'PgBouncer version (SHOW VERSION), value 1.', version === '' ? [] : [{ labels: { version }, value: 1 }]),
  ];
}

export const pgbouncer: CollectorDefinition = {
  name: 'pgbouncer',
  description: 'PgBouncer admin console: pools (waiting clients, max wait), stats, databases, lists, limits',
  scope: 'cluster',
  needsPostgres: false,
  defaultIntervalSeconds: 10,
  unconfigured: (config) => (config.pgbouncerUrl === undefined ? 'PGVIGIL_PGBOUNCER_URL is not set' : undefined),
  create(config) {
    const console = new PgbouncerConsole(
      config.pgbouncerUrl ?? '',
      config.PGVIGIL_CONNECT_TIMEOUT_SECONDS * 1000,
      config.PGVIGIL_STATEMENT_TIMEOUT_SECONDS * 1000,
    );
    return {
      families: PGBOUNCER_FAMILIES,
      async collect(): Promise<Family[]> {
        // Sequential on one connection: the console handles one command at a time.
        return pgbouncerFamilies({
          pools: await console.query('SHOW POOLS'),
          stats: await console.query('SHOW STATS'),
          databases: await console.query('SHOW DATABASES'),
          lists: await console.query('SHOW LISTS'),
          config: await console.query('SHOW CONFIG'),
          version: await console.query('SHOW VERSION'),
        });
      },
      close: () => console.close(),
    };
  },
};
