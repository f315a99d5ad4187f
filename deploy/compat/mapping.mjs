// postgres_exporter's families, as its mixin, common community dashboards and public alert
// collections read them, and how each is made from pgvigil's series. This is the one source of the
// recording rules (postgres-exporter-rules.yml, prometheusrule.yaml) and of the mapping table in
// docs/migrating-from-postgres-exporter.md; generate.mjs writes all three.
//
// Expressions aggregate with `without (...)`, never `by (...)`, so the target labels (job, instance
// and whatever relabelling added) stay on every recorded series. Counters are copied as counters
// (value for value, units converted), never recorded as rates, so rate() and irate() over a
// recorded series see the same samples as over pgvigil's own, evaluation by evaluation.

/**
 * @typedef {object} CompatFamily
 * @property {string} name       postgres_exporter's family name
 * @property {string[]} labels   its labels that the rule reproduces (besides the target labels)
 * @property {string[]} from     pgvigil families it is made from
 * @property {'same' | 'renamed' | 'converted' | 'derived'} kind
 *   same: pgvigil emits this very name, no rule; renamed: same values, other name or label values;
 *   converted: other unit; derived: computed (timestamp from an age, sum over labels, default 0)
 * @property {string} [expr]     PromQL of the recording rule (absent when kind is 'same')
 * @property {string} [note]     what differs, for the migration table
 */

/** A counter pgvigil names with _total (and postgres_exporter without). */
const total = (name, labels, source = `${name}_total`) => ({
  name,
  labels,
  from: [source],
  kind: 'renamed',
  expr: source,
});

/** A counter of seconds that postgres_exporter reports in milliseconds. */
const milliseconds = (name, labels, source) => ({
  name,
  labels,
  from: [source],
  kind: 'converted',
  expr: `${source} * 1000`,
  note: 'seconds × 1000 (postgres_exporter: milliseconds)',
});

/** A family pgvigil emits under postgres_exporter's own name and labels. */
const same = (name, labels, note) => ({ name, labels, from: [name], kind: 'same', ...(note ? { note } : {}) });

const DB = ['datname'];
const TABLE = ['datname', 'schemaname', 'relname'];

// postgres_exporter spells lock modes in lower case; PromQL cannot change case, so each mode is
// relabelled on its own and the results joined.
const LOCK_MODES = [
  'AccessShareLock',
  'RowShareLock',
  'RowExclusiveLock',
  'ShareUpdateExclusiveLock',
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
  'SIReadLock',
];
const locksCount = LOCK_MODES.map(
  (mode) => `label_replace(sum without (granted) (pg_locks{mode="${mode}"}), "mode", "${mode.toLowerCase()}", "", "")`,
).join('\nor\n');

/** postgres_exporter's timestamp (0: never) from pgvigil's age; every table has a 0 until it happens. */
const lastTime = (name, source) => ({
  name,
  labels: TABLE,
  from: [source, 'pg_stat_user_tables_n_live_tup'],
  kind: 'derived',
  expr: `time() - ${source}\nor\n0 * pg_stat_user_tables_n_live_tup`,
  note: 'Unix time from pgvigil’s age; 0 when never (as postgres_exporter); within a poll interval',
});

/** A TOAST counter; a table without a TOAST table gets 0 (postgres_exporter: NaN, from NULL). */
const withoutToast = (name, source) => ({
  name,
  labels: TABLE,
  from: [source, 'pg_stat_user_tables_n_live_tup'],
  kind: 'derived',
  expr: `${source}\nor\n0 * pg_stat_user_tables_n_live_tup`,
  note: '0 for a table without a TOAST table (postgres_exporter: NaN)',
});

const conflicts = (type) => ({
  name: `pg_stat_database_conflicts_confl_${type}`,
  labels: DB,
  from: ['pg_stat_database_conflicts_by_type_total'],
  kind: 'renamed',
  expr: `sum without (type) (pg_stat_database_conflicts_by_type_total{type="${type}"})`,
  note: `type="${type}" of pg_stat_database_conflicts_by_type_total`,
});

/** @type {CompatFamily[]} */
export const COMPAT_FAMILIES = [
  // pg_stat_database
  same('pg_stat_database_numbackends', DB),
  ...[
    'xact_commit',
    'xact_rollback',
    'blks_read',
    'blks_hit',
    'tup_returned',
    'tup_fetched',
    'tup_inserted',
    'tup_updated',
    'tup_deleted',
    'conflicts',
    'temp_files',
    'temp_bytes',
    'deadlocks',
    'sessions',
    'sessions_abandoned',
    'sessions_fatal',
    'sessions_killed',
  ].map((c) => total(`pg_stat_database_${c}`, DB)),
  ...['blk_read_time', 'blk_write_time', 'active_time', 'idle_in_transaction_time', 'session_time'].map((c) =>
    milliseconds(`pg_stat_database_${c}`, DB, `pg_stat_database_${c}_seconds_total`),
  ),
  ...['tablespace', 'lock', 'snapshot', 'bufferpin', 'deadlock'].map(conflicts),
  {
    name: 'pg_stat_database_stats_reset',
    labels: DB,
    from: ['pg_stat_database_stats_reset_timestamp_seconds'],
    kind: 'renamed',
    expr: 'pg_stat_database_stats_reset_timestamp_seconds',
    note: 'only while a reset time is known (never-reset databases have none in either exporter’s SQL)',
  },
  same('pg_database_size_bytes', DB),

  // pg_stat_activity
  {
    name: 'pg_stat_activity_count',
    labels: ['datname', 'state'],
    from: ['pg_stat_activity_connections'],
    kind: 'derived',
    expr: 'sum without (usename, application_name, wait_event_type) (pg_stat_activity_connections)',
    note:
      'client backends only (postgres_exporter also counts autovacuum workers and other backends with a ' +
      'database); 0 for every state of every connectable database, like postgres_exporter',
  },
  {
    name: 'pg_stat_activity_max_tx_duration',
    labels: ['datname'],
    from: ['pg_stat_activity_oldest_transaction_seconds'],
    kind: 'renamed',
    expr: 'pg_stat_activity_oldest_transaction_seconds',
    note: 'per database, no `state` label (postgres_exporter: per database and state)',
  },

  // pg_locks
  {
    name: 'pg_locks_count',
    labels: ['datname', 'mode'],
    from: ['pg_locks'],
    kind: 'derived',
    expr: locksCount,
    note:
      'mode in lower case, held and awaited summed; pgvigil also counts transaction and virtualxid locks ' +
      '(under the holder’s database) and leaves out its own',
  },

  // pg_stat_bgwriter (postgres_exporter names them _total although it did not before 0.10)
  {
    name: 'pg_stat_bgwriter_checkpoints_timed_total',
    labels: [],
    from: ['pg_checkpointer_checkpoints_total'],
    kind: 'renamed',
    expr: 'sum without (kind) (pg_checkpointer_checkpoints_total{kind="timed"})',
  },
  {
    name: 'pg_stat_bgwriter_checkpoints_req_total',
    labels: [],
    from: ['pg_checkpointer_checkpoints_total'],
    kind: 'renamed',
    expr: 'sum without (kind) (pg_checkpointer_checkpoints_total{kind="requested"})',
  },
  milliseconds('pg_stat_bgwriter_checkpoint_write_time_total', [], 'pg_checkpointer_write_time_seconds_total'),
  milliseconds('pg_stat_bgwriter_checkpoint_sync_time_total', [], 'pg_checkpointer_sync_time_seconds_total'),
  total('pg_stat_bgwriter_buffers_checkpoint_total', [], 'pg_checkpointer_buffers_written_total'),
  total('pg_stat_bgwriter_buffers_clean_total', [], 'pg_bgwriter_buffers_clean_total'),
  total('pg_stat_bgwriter_maxwritten_clean_total', [], 'pg_bgwriter_maxwritten_clean_total'),
  total('pg_stat_bgwriter_buffers_backend_total', [], 'pg_bgwriter_buffers_backend_total'),
  total('pg_stat_bgwriter_buffers_backend_fsync_total', [], 'pg_bgwriter_buffers_backend_fsync_total'),
  total('pg_stat_bgwriter_buffers_alloc_total', [], 'pg_bgwriter_buffers_alloc_total'),

  // pg_stat_archiver
  total('pg_stat_archiver_archived_count', [], 'pg_stat_archiver_archived_total'),
  total('pg_stat_archiver_failed_count', [], 'pg_stat_archiver_failed_total'),
  {
    name: 'pg_stat_archiver_last_archive_age',
    labels: [],
    from: ['pg_stat_archiver_last_archived_timestamp_seconds'],
    kind: 'derived',
    expr: 'time() - pg_stat_archiver_last_archived_timestamp_seconds',
    note: 'only once a segment was archived (postgres_exporter: NaN before)',
  },

  // Replication
  same('pg_replication_is_replica', []),
  {
    name: 'pg_replication_lag',
    labels: [],
    from: ['pg_replication_lag_seconds', 'pg_replication_is_replica'],
    kind: 'derived',
    expr: 'pg_replication_lag_seconds\nor\n0 * pg_replication_is_replica',
    note: 'seconds; 0 on a primary, as postgres_exporter',
  },
  {
    name: 'pg_replication_slots_active',
    labels: ['datname', 'slot_name', 'slot_type'],
    from: ['pg_replication_slot_active'],
    kind: 'renamed',
    expr: 'pg_replication_slot_active',
    note: 'labels slot_name, slot_type and datname (custom-query versions differ; check your selectors)',
  },

  // pg_stat_user_tables, pg_statio_user_tables (postgres_exporter's example queries.yaml)
  ...[
    'seq_scan',
    'seq_tup_read',
    'idx_scan',
    'idx_tup_fetch',
    'n_tup_ins',
    'n_tup_upd',
    'n_tup_del',
    'n_tup_hot_upd',
  ].map((c) => total(`pg_stat_user_tables_${c}`, TABLE)),
  same('pg_stat_user_tables_n_live_tup', TABLE),
  same('pg_stat_user_tables_n_dead_tup', TABLE),
  same('pg_stat_user_tables_n_mod_since_analyze', TABLE),
  ...['vacuum', 'autovacuum', 'analyze', 'autoanalyze'].map((c) =>
    total(`pg_stat_user_tables_${c}_count`, TABLE, `pg_stat_user_tables_${c}_total`),
  ),
  ...['vacuum', 'autovacuum', 'analyze', 'autoanalyze'].map((c) =>
    lastTime(`pg_stat_user_tables_last_${c}`, `pg_stat_user_tables_last_${c}_age_seconds`),
  ),
  ...['heap', 'idx'].flatMap((c) => [
    total(`pg_statio_user_tables_${c}_blks_read`, TABLE, `pg_statio_user_tables_${c}_blocks_read_total`),
    total(`pg_statio_user_tables_${c}_blks_hit`, TABLE, `pg_statio_user_tables_${c}_blocks_hit_total`),
  ]),
  ...['toast', 'tidx'].flatMap((c) => [
    withoutToast(`pg_statio_user_tables_${c}_blks_read`, `pg_statio_user_tables_${c}_blocks_read_total`),
    withoutToast(`pg_statio_user_tables_${c}_blks_hit`, `pg_statio_user_tables_${c}_blocks_hit_total`),
  ]),

  // Server, settings, the exporter itself
  {
    name: 'pg_static',
    labels: ['version', 'short_version'],
    from: ['pg_server_info'],
    kind: 'derived',
    expr:
      'label_replace(\n' +
      '  label_replace(pg_server_info, "short_version", "$1.0", "version", "([0-9]+[.][0-9]+).*"),\n' +
      '  "version", "PostgreSQL $1", "version", "(.*)"\n' +
      ')',
    note: 'version is like `PostgreSQL 15.20`, not the whole version() string; short_version as postgres_exporter',
  },
  same('pg_postmaster_start_time_seconds', []),
  same('pg_up', []),
  {
    name: 'pg_exporter_last_scrape_error',
    labels: [],
    from: ['pgvigil_collector_success'],
    kind: 'derived',
    expr: 'max without (collector) (1 - pgvigil_collector_success)',
    note: '1 while any collector’s last poll failed',
  },
  ...[
    'max_connections',
    'superuser_reserved_connections',
    'max_locks_per_transaction',
    'max_worker_processes',
    'max_parallel_workers',
    'random_page_cost',
    'seq_page_cost',
    'autovacuum_vacuum_threshold',
    'autovacuum_vacuum_scale_factor',
    'shared_buffers_bytes',
    'effective_cache_size_bytes',
    'maintenance_work_mem_bytes',
    'work_mem_bytes',
    'max_wal_size_bytes',
  ].map((s) => same(`pg_settings_${s}`, [], 'every numeric setting has its postgres_exporter name')),
];

/** postgres_exporter families and labels with no equivalent, and why; listed in the migration page. */
export const NO_EQUIVALENT = [
  ['`datid` label', 'an OID says nothing a dashboard shows; every family keeps `datname`'],
  ['`server` label (0.11 and older)', 'the target labels (`instance`, `job`) say which server'],
  ['`state` label of `pg_stat_activity_max_tx_duration`', 'pgvigil keeps the oldest transaction per database'],
  [
    '`pg_exporter_scrapes_total`, `pg_exporter_last_scrape_duration_seconds`, `pg_scrape_collector_*`',
    'pgvigil does not query on scrape; `pgvigil_collector_duration_seconds` and `pgvigil_collector_success` ' +
      'describe each collector’s polls',
  ],
  ['`pg_stat_database_checksum_failures`, `_checksum_last_failure`', 'not collected by pgvigil yet'],
  ['`pg_process_idle_seconds`', 'a histogram of postgres_exporter’s example queries, not of a statistics view'],
  [
    'settings of type string or enum, `transaction_read_only`, `transaction_deferrable`, ' +
      '`tcp_keepalives_count`, `wal_summary_keep_time`',
    'not numbers; the two transaction settings describe the exporter’s own session; a gauge’s name may not ' +
      'end in `_count` nor contain `_summary_` (promtool check metrics)',
  ],
];
