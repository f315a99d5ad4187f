import type { Family } from '../exposition/families.js';
import { pgbouncerSettings } from '../pool-settings.js';
import type { Columns, RowOf } from './collector-spec.js';
import { defineCollector, familiesOf, query } from './define.js';
import { PgbouncerConsole } from './pgbouncer-console.js';
import { type ConsoleRow, consoleRow, text } from './pgbouncer-rows.js';

// PgBouncer, read from its admin console (PGVIGIL_PGBOUNCER_URL): waiting clients, max wait,
// server connections per pool, traffic and timing totals, pool limits. It runs without a
// PostgreSQL connection, so it keeps reporting when PostgreSQL is down and PgBouncer is up.
// Names follow prometheus-community/pgbouncer_exporter where those are correct. Times arrive in
// microseconds and are exported in seconds. Labels keep PgBouncer's column names: `database` is
// PgBouncer's database name (SHOW DATABASES' `name`), `user` the pool's user.
// Health of this collector: pgvigil_collector_success{collector="pgbouncer"} and
// pgvigil_collector_errors_total{collector="pgbouncer",reason} (reason="connection" while PgBouncer is down).

/** PgBouncer reports times in microseconds. */
const seconds = (us: number | null) => (us === null ? null : us * 1e-6);

interface PgbouncerState {
  readonly console: PgbouncerConsole;
}
type Input = { state: PgbouncerState };

/** A SHOW command's rows, read into the declared shape (see pgbouncer-rows.ts). */
function show<const C extends Columns>(
  command: string,
  columns: C,
  sources: { readonly [K in keyof C]?: readonly string[] } = {},
) {
  return {
    columns,
    normalize: (rows: readonly ConsoleRow[]) => rows.map((r) => consoleRow(r, columns, sources)),
    run: async ({ state }: Input) => (await state.console.query(command)).map((r) => consoleRow(r, columns, sources)),
  };
}

// SHOW POOLS: one row per (database, user) pool.
const POOLS_SHOW = show('SHOW POOLS', {
  database: 'text',
  user: 'text',
  cl_active: 'float?',
  cl_waiting: 'float?',
  cl_active_cancel_req: 'float?',
  cl_waiting_cancel_req: 'float?',
  sv_active: 'float?',
  sv_active_cancel: 'float?',
  sv_being_canceled: 'float?',
  sv_idle: 'float?',
  sv_used: 'float?',
  sv_tested: 'float?',
  sv_login: 'float?',
  maxwait: 'float?',
  maxwait_us: 'float?',
});
const POOL = ['database', 'user'] as const;

const POOLS = query({
  ...POOLS_SHOW,
  metrics: [
    {
      name: 'pgbouncer_pools_client_active_connections',
      type: 'gauge',
      help: 'Client connections linked to a server connection or idle with nothing to do (cl_active).',
      labels: POOL,
      value: 'cl_active',
    },
    {
      name: 'pgbouncer_pools_client_waiting_connections',
      type: 'gauge',
      help:
        'Client connections that sent a query and wait for a server ' +
        'connection (cl_waiting); above 0 the pool is exhausted.',
      labels: POOL,
      value: 'cl_waiting',
    },
    {
      name: 'pgbouncer_pools_client_active_cancel_connections',
      type: 'gauge',
      help:
        'Clients that forwarded a cancel request to the server, ' +
        'waiting for the answer (cl_active_cancel_req, 1.18+).',
      labels: POOL,
      value: 'cl_active_cancel_req',
    },
    {
      name: 'pgbouncer_pools_client_waiting_cancel_connections',
      type: 'gauge',
      help: 'Clients whose cancel request is not yet forwarded (cl_waiting_cancel_req, 1.18+).',
      labels: POOL,
      value: 'cl_waiting_cancel_req',
    },
    {
      name: 'pgbouncer_pools_server_active_connections',
      type: 'gauge',
      help: 'Server connections linked to a client (sv_active).',
      labels: POOL,
      value: 'sv_active',
    },
    {
      name: 'pgbouncer_pools_server_active_cancel_connections',
      type: 'gauge',
      help: 'Server connections forwarding a cancel request (sv_active_cancel, 1.18+).',
      labels: POOL,
      value: 'sv_active_cancel',
    },
    {
      name: 'pgbouncer_pools_server_being_canceled_connections',
      type: 'gauge',
      help: 'Server connections whose query is being cancelled (sv_being_canceled, 1.18+).',
      labels: POOL,
      value: 'sv_being_canceled',
    },
    {
      name: 'pgbouncer_pools_server_idle_connections',
      type: 'gauge',
      help: 'Server connections unused and ready for a client (sv_idle).',
      labels: POOL,
      value: 'sv_idle',
    },
    {
      name: 'pgbouncer_pools_server_used_connections',
      type: 'gauge',
      help: 'Server connections idle longer than server_check_delay, to be checked before reuse (sv_used).',
      labels: POOL,
      value: 'sv_used',
    },
    {
      name: 'pgbouncer_pools_server_testing_connections',
      type: 'gauge',
      help: 'Server connections running server_reset_query or server_check_query (sv_tested).',
      labels: POOL,
      value: 'sv_tested',
    },
    {
      name: 'pgbouncer_pools_server_login_connections',
      type: 'gauge',
      help: 'Server connections being opened (sv_login).',
      labels: POOL,
      value: 'sv_login',
    },
    {
      name: 'pgbouncer_pools_client_maxwait_seconds',
      type: 'gauge',
      unit: 'seconds',
      help:
        'How long the oldest waiting client of the pool has waited (maxwait + maxwait_us); ' +
        'above 0 clients queue for a server connection.',
      labels: POOL,
      value: (r) => (r.maxwait === null ? null : r.maxwait + (seconds(r.maxwait_us) ?? 0)),
    },
  ],
});

// SHOW STATS: one row per database; totals since PgBouncer started, averages over the last stats_period.
const STATS_SHOW = show(
  'SHOW STATS',
  {
    database: 'text',
    total_xact_count: 'float?',
    total_query_count: 'float?',
    total_server_assignment_count: 'float?',
    total_received: 'float?',
    total_sent: 'float?',
    total_xact_time: 'float?',
    total_query_time: 'float?',
    total_wait_time: 'float?',
    avg_xact_time: 'float?',
    avg_query_time: 'float?',
    avg_wait_time: 'float?',
  },
  // Before 1.8: total_requests and avg_query.
  { total_query_count: ['total_query_count', 'total_requests'], avg_query_time: ['avg_query_time', 'avg_query'] },
);

const STATS = query({
  ...STATS_SHOW,
  metrics: [
    {
      name: 'pgbouncer_stats_sql_transactions_pooled_total',
      type: 'counter',
      help: 'SQL transactions pooled (total_xact_count).',
      labels: ['database'],
      value: 'total_xact_count',
    },
    {
      name: 'pgbouncer_stats_queries_pooled_total',
      type: 'counter',
      help: 'SQL queries pooled (total_query_count; total_requests before 1.8).',
      labels: ['database'],
      value: 'total_query_count',
    },
    {
      name: 'pgbouncer_stats_server_assignments_total',
      type: 'counter',
      help: 'Times a server connection was assigned to a client (total_server_assignment_count, 1.23+).',
      labels: ['database'],
      value: 'total_server_assignment_count',
    },
    {
      name: 'pgbouncer_stats_received_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help: 'Bytes received from clients (total_received).',
      labels: ['database'],
      value: 'total_received',
    },
    {
      name: 'pgbouncer_stats_sent_bytes_total',
      type: 'counter',
      unit: 'bytes',
      help: 'Bytes sent to clients (total_sent).',
      labels: ['database'],
      value: 'total_sent',
    },
    {
      name: 'pgbouncer_stats_server_in_transaction_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time server connections spent in a transaction, idle in transaction included (total_xact_time).',
      labels: ['database'],
      value: (r) => seconds(r.total_xact_time),
    },
    {
      name: 'pgbouncer_stats_queries_duration_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time server connections spent running queries (total_query_time).',
      labels: ['database'],
      value: (r) => seconds(r.total_query_time),
    },
    {
      name: 'pgbouncer_stats_client_wait_seconds_total',
      type: 'counter',
      unit: 'seconds',
      help: 'Time clients spent waiting for a server connection (total_wait_time).',
      labels: ['database'],
      value: (r) => seconds(r.total_wait_time),
    },
    {
      name: 'pgbouncer_stats_avg_transaction_duration_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Average transaction duration over the last stats_period (avg_xact_time).',
      labels: ['database'],
      value: (r) => seconds(r.avg_xact_time),
    },
    {
      name: 'pgbouncer_stats_avg_query_duration_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Average query duration over the last stats_period (avg_query_time; avg_query before 1.8).',
      labels: ['database'],
      value: (r) => seconds(r.avg_query_time),
    },
    {
      name: 'pgbouncer_stats_avg_wait_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Average time a client waited for a server connection over the last stats_period (avg_wait_time).',
      labels: ['database'],
      value: (r) => seconds(r.avg_wait_time),
    },
  ],
});

// SHOW DATABASES: one row per configured (or auto-created) database; `name` is its PgBouncer name.
const DATABASES_SHOW = show(
  'SHOW DATABASES',
  {
    database: 'text',
    pool_size: 'float?',
    min_pool_size: 'float?',
    reserve_pool: 'float?',
    max_connections: 'float?',
    current_connections: 'float?',
    paused: 'float?',
    disabled: 'float?',
  },
  { database: ['name'] },
);

const DATABASES = query({
  ...DATABASES_SHOW,
  metrics: [
    {
      name: 'pgbouncer_databases_pool_size',
      type: 'gauge',
      help: 'Most server connections per (database, user) pool (pool_size, default_pool_size when not set).',
      labels: ['database'],
      value: 'pool_size',
    },
    {
      name: 'pgbouncer_databases_min_pool_size',
      type: 'gauge',
      help: 'Server connections kept open per pool even when idle (min_pool_size).',
      labels: ['database'],
      value: 'min_pool_size',
    },
    {
      name: 'pgbouncer_databases_reserve_pool',
      type: 'gauge',
      help: 'Extra server connections a pool may open when clients wait too long (reserve_pool).',
      labels: ['database'],
      value: 'reserve_pool',
    },
    {
      name: 'pgbouncer_databases_max_connections',
      type: 'gauge',
      help: 'Most server connections to this database over all pools (max_db_connections; 0 = unlimited).',
      labels: ['database'],
      value: 'max_connections',
    },
    {
      name: 'pgbouncer_databases_current_connections',
      type: 'gauge',
      help: 'Server connections to this database now, over all pools (current_connections).',
      labels: ['database'],
      value: 'current_connections',
    },
    {
      name: 'pgbouncer_databases_paused',
      type: 'gauge',
      help: 'Whether the database is paused (1) or not (0).',
      labels: ['database'],
      value: 'paused',
    },
    {
      name: 'pgbouncer_databases_disabled',
      type: 'gauge',
      help: 'Whether the database is disabled (1) or not (0).',
      labels: ['database'],
      value: 'disabled',
    },
  ],
});

const LISTS_SHOW = show('SHOW LISTS', { list: 'text', items: 'float?' });

const LISTS = query({
  ...LISTS_SHOW,
  metrics: [
    {
      name: 'pgbouncer_lists_items',
      type: 'gauge',
      help:
        "Size of PgBouncer's internal lists (SHOW LISTS): databases, users, pools, free_clients, used_clients, " +
        'login_clients, free_servers, used_servers, dns_* ...',
      labels: ['list'],
      value: 'items',
    },
  ],
});

// SHOW CONFIG is key/value rows: read as one row keyed by setting name.
const CONFIG_COLUMNS = {
  max_client_conn: 'float?',
  max_user_connections: 'float?',
  max_db_connections: 'float?',
  default_pool_size: 'float?',
} as const;
const settingsRow = (rows: readonly ConsoleRow[]) => [
  consoleRow(Object.fromEntries(rows.map((r) => [text(r.key), r.value])), CONFIG_COLUMNS),
];

const CONFIG = query({
  columns: CONFIG_COLUMNS,
  run: async ({ state }: Input) => settingsRow(await state.console.query('SHOW CONFIG')),
  metrics: [
    {
      name: 'pgbouncer_config_max_client_connections',
      type: 'gauge',
      help: 'Most client connections PgBouncer accepts (max_client_conn).',
      value: 'max_client_conn',
    },
    {
      name: 'pgbouncer_config_max_user_connections',
      type: 'gauge',
      help: 'Most server connections per user (max_user_connections; 0 = unlimited).',
      value: 'max_user_connections',
    },
    {
      name: 'pgbouncer_config_max_db_connections',
      type: 'gauge',
      help: 'Most server connections per database by default (max_db_connections; 0 = unlimited).',
      value: 'max_db_connections',
    },
    {
      name: 'pgbouncer_config_default_pool_size',
      type: 'gauge',
      help: 'Server connections per pool when a database sets no pool_size (default_pool_size).',
      value: 'default_pool_size',
    },
  ],
});

const VERSION_COLUMNS = { version: 'text' } as const;
const versionRows = (rows: readonly ConsoleRow[]): RowOf<typeof VERSION_COLUMNS>[] =>
  rows.slice(0, 1).map((r) => ({ version: text(r.version).replace(/^PgBouncer\s+/i, '') }));

const VERSION = query({
  columns: VERSION_COLUMNS,
  run: async ({ state }: Input) => versionRows(await state.console.query('SHOW VERSION')),
  metrics: [
    {
      name: 'pgbouncer_version_info',
      type: 'gauge',
      help: 'PgBouncer version (SHOW VERSION), value 1.',
      labels: ['version'],
      value: (r) => (r.version === '' ? null : 1),
    },
  ],
});

export const pgbouncer = defineCollector<{ readonly url: string | undefined }, PgbouncerState>({
  name: 'pgbouncer',
  description: 'PgBouncer admin console: pools (waiting clients, max wait), stats, databases, lists, limits',
  scope: 'cluster',
  needsPostgres: false,
  defaultIntervalSeconds: 10,
  subsystems: ['pgbouncer'],
  namesReason: "PgBouncer is not PostgreSQL: pgbouncer_exporter's prefix, without pg_",
  settings: pgbouncerSettings,
  unconfigured: (settings) => (settings.url === undefined ? 'PGVIGIL_PGBOUNCER_URL is not set' : undefined),
  state: (settings, config) => ({
    console: new PgbouncerConsole(
      settings.url ?? '',
      config.PGVIGIL_CONNECT_TIMEOUT_SECONDS * 1000,
      config.PGVIGIL_STATEMENT_TIMEOUT_SECONDS * 1000,
    ),
  }),
  close: (state) => state.console.close(),
  // Sequential on one connection: the console handles one command at a time.
  queries: [POOLS, STATS, DATABASES, LISTS, CONFIG, VERSION],
});

export const PGBOUNCER_FAMILIES = pgbouncer.familyNames;

/** Every PgBouncer family from the rows of the SHOW commands; pure, so unit tests can feed it any column set. */
export function pgbouncerFamilies(show: {
  pools: readonly ConsoleRow[];
  stats: readonly ConsoleRow[];
  databases: readonly ConsoleRow[];
  lists: readonly ConsoleRow[];
  config: readonly ConsoleRow[];
  version: readonly ConsoleRow[];
}): Family[] {
  return [
    ...familiesOf(POOLS, POOLS_SHOW.normalize(show.pools)),
    ...familiesOf(STATS, STATS_SHOW.normalize(show.stats)),
    ...familiesOf(DATABASES, DATABASES_SHOW.normalize(show.databases)),
    ...familiesOf(LISTS, LISTS_SHOW.normalize(show.lists)),
    ...familiesOf(CONFIG, settingsRow(show.config)),
    ...familiesOf(VERSION, versionRows(show.version)),
  ];
}
