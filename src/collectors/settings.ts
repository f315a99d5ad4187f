import { Type } from '@sinclair/typebox';
import type { Logger } from 'pino';
import type { SettingsSpec } from '../config.js';
import type { MetricSpec, Unit } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import { NUMERIC_SETTINGS } from './settings-catalog.js';
import type { QueryFn } from './types.js';

// The server settings alerts and dashboards divide by (max_connections, freeze ages, timeouts,
// memory), in base units, plus what server this is and when it started; then every other numeric
// or boolean setting (settings-catalog.ts), which users select with PGVIGIL_SETTINGS_INCLUDE and
// PGVIGIL_SETTINGS_EXCLUDE to keep the series count down. Names follow
// postgres_exporter's pg_settings collector: pg_settings_<name, dots as _>[_bytes|_seconds].
// Unlike the other collectors the unit conversion happens here, not in SQL: pg_settings gives
// the unit as data ('8kB', 'min' ...), and the conversion is unit-tested on its own. The rows are
// read into one row with a column per setting; a setting the server lacks (older major,
// extension not loaded) leaves its family out entirely.

type Suffix = Unit | '';

const BYTES: Readonly<Record<string, number>> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const SECONDS: Readonly<Record<string, number>> = { us: 1e-6, ms: 1e-3, s: 1, min: 60, h: 3600, d: 86400 };

/**
 * A pg_settings row in base units. `unit` is pg_settings.unit: a memory unit, possibly with a
 * multiplier ('8kB' blocks, '16MB' segments), or a time unit. Booleans are 0/1. Negative values
 * are sentinels ("-1: no limit / use another setting") and are kept as they are, not scaled.
 * Returns undefined for what is not a number (enums, strings, unknown units).
 */
export function settingValue(
  setting: string,
  unit: string | null,
  vartype: string,
): { value: number; suffix: Suffix } | undefined {
  if (vartype === 'bool')
    return setting === 'on' ? { value: 1, suffix: '' } : setting === 'off' ? { value: 0, suffix: '' } : undefined;
  if (vartype !== 'integer' && vartype !== 'real') return undefined;
  if (setting.trim() === '') return undefined;
  const raw = Number(setting);
  if (!Number.isFinite(raw)) return undefined;
  if (unit === null || unit === '') return { value: raw, suffix: '' };
  const m = /^(\d*)\s*([a-zA-Z]+)$/.exec(unit);
  if (m === null) return undefined;
  const multiplier = m[1] === '' ? 1 : Number(m[1]);
  const name = m[2]!;
  const scale = (factor: number) => (raw < 0 ? raw : raw * multiplier * factor);
  if (BYTES[name] !== undefined) return { value: scale(BYTES[name]), suffix: 'bytes' };
  if (SECONDS[name] !== undefined) return { value: scale(SECONDS[name]), suffix: 'seconds' };
  return undefined;
}

type SettingsColumns = Readonly<Record<string, 'float?'>>;

/** One exported setting: the family, written out, and the pg_settings name its value comes from. */
const setting = (name: string, value: string, unit?: Unit): MetricSpec<SettingsColumns> => ({
  name,
  type: 'gauge',
  help:
    `Server setting ${value}${unit === undefined ? '' : ` in ${unit}`} ` +
    `(pg_settings; booleans as 0/1, -1 kept as PostgreSQL's "disabled").`,
  value,
  omitWhenEmpty: true,
  ...(unit !== undefined ? { unit } : {}),
});

/** Settings alerts and dashboards rely on: always exported, whatever the include/exclude lists say. */
export const CORE_SETTING_METRICS: readonly MetricSpec<SettingsColumns>[] = [
  setting('pg_settings_max_connections', 'max_connections'),
  setting('pg_settings_superuser_reserved_connections', 'superuser_reserved_connections'),
  setting('pg_settings_reserved_connections', 'reserved_connections'), // 16+
  setting('pg_settings_shared_buffers_bytes', 'shared_buffers', 'bytes'),
  setting('pg_settings_effective_cache_size_bytes', 'effective_cache_size', 'bytes'),
  setting('pg_settings_work_mem_bytes', 'work_mem', 'bytes'),
  setting('pg_settings_maintenance_work_mem_bytes', 'maintenance_work_mem', 'bytes'),
  setting('pg_settings_statement_timeout_seconds', 'statement_timeout', 'seconds'),
  setting('pg_settings_lock_timeout_seconds', 'lock_timeout', 'seconds'),
  setting('pg_settings_idle_in_transaction_session_timeout_seconds', 'idle_in_transaction_session_timeout', 'seconds'),
  setting('pg_settings_max_wal_size_bytes', 'max_wal_size', 'bytes'),
  setting('pg_settings_min_wal_size_bytes', 'min_wal_size', 'bytes'),
  setting('pg_settings_wal_keep_size_bytes', 'wal_keep_size', 'bytes'),
  setting('pg_settings_max_slot_wal_keep_size_bytes', 'max_slot_wal_keep_size', 'bytes'),
  setting('pg_settings_checkpoint_timeout_seconds', 'checkpoint_timeout', 'seconds'),
  setting('pg_settings_autovacuum', 'autovacuum'),
  setting('pg_settings_autovacuum_max_workers', 'autovacuum_max_workers'),
  setting('pg_settings_autovacuum_naptime_seconds', 'autovacuum_naptime', 'seconds'),
  setting('pg_settings_autovacuum_vacuum_threshold', 'autovacuum_vacuum_threshold'),
  setting('pg_settings_autovacuum_vacuum_scale_factor', 'autovacuum_vacuum_scale_factor'),
  setting('pg_settings_autovacuum_analyze_threshold', 'autovacuum_analyze_threshold'),
  setting('pg_settings_autovacuum_analyze_scale_factor', 'autovacuum_analyze_scale_factor'),
  setting('pg_settings_autovacuum_freeze_max_age', 'autovacuum_freeze_max_age'),
  setting('pg_settings_autovacuum_multixact_freeze_max_age', 'autovacuum_multixact_freeze_max_age'),
  setting('pg_settings_track_io_timing', 'track_io_timing'),
  setting('pg_settings_data_checksums', 'data_checksums'),
  setting('pg_settings_max_wal_senders', 'max_wal_senders'),
  setting('pg_settings_max_replication_slots', 'max_replication_slots'),
  setting('pg_settings_hot_standby', 'hot_standby'),
  setting('pg_settings_pg_stat_statements_max', 'pg_stat_statements.max'),
  setting('pg_settings_pg_stat_statements_track_planning', 'pg_stat_statements.track_planning'),
];

/** Every other numeric or boolean setting, exported when the include/exclude lists select it. */
const CATALOG_SETTING_METRICS: readonly MetricSpec<SettingsColumns>[] = NUMERIC_SETTINGS.map(([family, name, unit]) =>
  setting(family, name, unit),
);

/** Settings exported and the base unit each is expected in; absent ones are skipped. */
export const SETTING_METRICS: readonly MetricSpec<SettingsColumns>[] = [
  ...CORE_SETTING_METRICS,
  ...CATALOG_SETTING_METRICS,
];

const CORE_SETTINGS: ReadonlySet<string> = new Set(CORE_SETTING_METRICS.map((m) => m.value as string));

/** [setting name, unit suffix] of every exported setting. */
export const EXPORTED_SETTINGS: ReadonlyArray<readonly [name: string, suffix: Suffix]> = SETTING_METRICS.map((m) => [
  m.value as string,
  m.unit ?? '',
]);

// pg_settings shows this session's values. pgvigil's own connection overrides a few (its
// statement_timeout, lock_timeout, idle_in_transaction_session_timeout): when one was SET in the
// session, reset_val is the value every other session of this role and database gets; when it
// came in the startup packet (source 'client'), the server's value is not visible at all.
const SETTINGS_SQL = `
SELECT name, CASE WHEN source = 'session' THEN reset_val ELSE setting END AS setting, unit, vartype, source
FROM pg_settings
WHERE name = ANY($1::text[])`;

interface SettingRow {
  name: string;
  setting: string;
  unit: string | null;
  vartype: string;
  source: string;
}

/** Which settings beyond the core ones are exported: pg_settings names, `*` matching any characters. */
export interface SettingsSelection {
  readonly include: readonly RegExp[];
  readonly exclude: readonly RegExp[];
}

/** 'autovacuum_*, max_connections' → one anchored pattern per name; an empty list → none. */
export function namePatterns(list: string): RegExp[] {
  return list
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
}

/** Core settings always; any other when it matches an include pattern and no exclude pattern. */
export function settingSelected(name: string, selection: SettingsSelection): boolean {
  if (CORE_SETTINGS.has(name)) return true;
  return selection.include.some((p) => p.test(name)) && !selection.exclude.some((p) => p.test(name));
}

// pg_settings names are lower-case letters, digits, underscores and, for an extension's settings,
// a dot (pg_stat_statements.max). Anything else in a list is a typo that would select nothing.
const SETTING_NAME_LIST = '^[a-z0-9_.*,\\s]*$';

const settingsSelection: SettingsSpec<SettingsSelection> = {
  variables: {
    PGVIGIL_SETTINGS_INCLUDE: Type.String({
      default: '*',
      pattern: SETTING_NAME_LIST,
      description:
        'Server settings exported besides the ones alerts use: comma-separated pg_settings names, * as ' +
        'wildcard (e.g. autovacuum_*,random_page_cost); empty: none',
    }),
    PGVIGIL_SETTINGS_EXCLUDE: Type.String({
      default: '',
      pattern: SETTING_NAME_LIST,
      description: 'Server settings left out of PGVIGIL_SETTINGS_INCLUDE (same syntax, e.g. debug_*,log_*)',
    }),
  },
  resolve: (values) => ({
    include: namePatterns(String(values.PGVIGIL_SETTINGS_INCLUDE ?? '*')),
    exclude: namePatterns(String(values.PGVIGIL_SETTINGS_EXCLUDE ?? '')),
  }),
};

interface SettingsState {
  readonly log: Logger;
  /** Settings already reported as not exported, so each is logged once. */
  readonly warned: Set<string>;
}

/** The exported settings in base units, one column per setting; NULL where not exported. */
async function readSettings(
  query: QueryFn,
  { log, warned }: SettingsState,
  selection: SettingsSelection,
): Promise<Record<string, number | null>[]> {
  const wanted = EXPORTED_SETTINGS.filter(([name]) => settingSelected(name, selection));
  const rows = await query<SettingRow>(SETTINGS_SQL, [wanted.map(([name]) => name)]);
  const byName = new Map(rows.map((r) => [r.name, r]));
  const values: Record<string, number | null> = Object.fromEntries(EXPORTED_SETTINGS.map(([name]) => [name, null]));
  for (const [name, suffix] of wanted) {
    const row = byName.get(name);
    if (row === undefined) continue;
    if (row.source === 'client') {
      // Exporting pgvigil's own override as the server's setting would mislead every alert using it.
      if (!warned.has(name)) log.info({ setting: name }, 'setting not exported: overridden by the exporter connection');
      warned.add(name);
      continue;
    }
    const converted = settingValue(row.setting, row.unit, row.vartype);
    // A unit other than the one the name promises would make the name lie: skip, say so once.
    if (converted === undefined || converted.suffix !== suffix) {
      if (!warned.has(name))
        log.warn(
          { setting: name, unit: row.unit, vartype: row.vartype },
          'setting not exported: unexpected unit or type',
        );
      warned.add(name);
      continue;
    }
    values[name] = converted.value;
  }
  return [values];
}

const SETTINGS = query({
  columns: Object.fromEntries(EXPORTED_SETTINGS.map(([name]) => [name, 'float?'])) as SettingsColumns,
  run: ({ query, state, settings }: { query: QueryFn; state: SettingsState; settings: SettingsSelection }) =>
    readSettings(query, state, settings),
  metrics: SETTING_METRICS,
});

// The short version is the first word of server_version ("15.14 (Debian 15.14-1)" → "15.14").
const SERVER_SQL = `
SELECT split_part(current_setting('server_version'), ' ', 1) AS version,
       current_setting('server_version_num') AS server_version_num,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time_seconds`;

const SERVER = query({
  sql: [{ sql: SERVER_SQL }],
  columns: { version: 'text', server_version_num: 'text', start_time_seconds: 'float' },
  noRowsNoFamilies: true,
  metrics: [
    {
      name: 'pg_server_info',
      type: 'gauge',
      help: 'PostgreSQL server version; value 1.',
      labels: ['version', 'server_version_num'],
      value: () => 1,
    },
    {
      name: 'pg_postmaster_start_time_seconds',
      type: 'gauge',
      unit: 'seconds',
      help: 'Unix time the postmaster started (server restarts reset it).',
      value: 'start_time_seconds',
    },
  ],
});

export const settings = defineCollector<SettingsSelection, SettingsState>({
  name: 'settings',
  description: 'pg_settings in base units, server version, postmaster start time',
  scope: 'cluster',
  defaultIntervalSeconds: 300,
  subsystems: ['pg_settings', 'pg_server', 'pg_postmaster'],
  namesReason: 'pg_server_info and pg_postmaster_start_time_seconds are the names postgres_exporter gave them',
  settings: settingsSelection,
  state: (_settings, _config, log) => ({ log, warned: new Set() }),
  queries: [SETTINGS, SERVER],
});
