import { gauge, type Family, type GaugeFamily } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

// The server settings alerts and dashboards divide by (max_connections, freeze ages, timeouts,
// memory), in base units, plus what server this is and when it started. Names follow
// postgres_exporter's pg_settings collector: pg_settings_<name, dots as _>[_bytes|_seconds].
// Unlike the other collectors the unit conversion happens here, not in SQL: pg_settings gives
// the unit as data ('8kB', 'min' ...), and the conversion is unit-tested on its own.

type Suffix = 'bytes' | 'seconds' | '';

/** Settings exported and the base unit each is expected in; absent ones (older majors, extension not loaded) are skipped. */
export const EXPORTED_SETTINGS: ReadonlyArray<readonly [name: string, suffix: Suffix]> = [
  ['max_connections', ''],
  ['superuser_reserved_connections', ''],
  ['reserved_connections', ''], // 16+
  ['shared_buffers', 'bytes'],
  ['effective_cache_size', 'bytes'],
  ['work_mem', 'bytes'],
  ['maintenance_work_mem', 'bytes'],
  ['statement_timeout', 'seconds'],
  ['lock_timeout', 'seconds'],
  ['idle_in_transaction_session_timeout', 'seconds'],
  ['max_wal_size', 'bytes'],
  ['min_wal_size', 'bytes'],
  ['wal_keep_size', 'bytes'],
  ['max_slot_wal_keep_size', 'bytes'],
  ['checkpoint_timeout', 'seconds'],
  ['autovacuum', ''],
  ['autovacuum_max_workers', ''],
  ['autovacuum_naptime', 'seconds'],
  ['autovacuum_vacuum_threshold', ''],
  ['autovacuum_vacuum_scale_factor', ''],
  ['autovacuum_analyze_threshold', ''],
  ['autovacuum_analyze_scale_factor', ''],
  ['autovacuum_freeze_max_age', ''],
  ['autovacuum_multixact_freeze_max_age', ''],
  ['track_io_timing', ''],
  ['data_checksums', ''],
  ['max_wal_senders', ''],
  ['max_replication_slots', ''],
  ['hot_standby', ''],
  ['pg_stat_statements.max', ''],
  ['pg_stat_statements.track_planning', ''],
];

const BYTES: Readonly<Record<string, number>> = { B: 1, kB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };
const SECONDS: Readonly<Record<string, number>> = { us: 1e-6, ms: 1e-3, s: 1, min: 60, h: 3600, d: 86400 };

/**
 * A pg_settings row in base units. `unit` is pg_settings.unit: a memory unit, possibly with a
 * multiplier ('8kB' blocks, '16MB' segments), or a time unit. Booleans are 0/1. Negative values
 * are sentinels ("-1: no limit / use another setting") and are kept as they are, not scaled.
 * Returns undefined for what is not a number (enums, strings, unknown units).
 */
export function settingValue(setting: string, unit: string | null, vartype: string): { value: number; suffix: Suffix } | undefined {
  if (vartype === 'bool') return setting === 'on' ? { value: 1, suffix: '' } : setting === 'off' ? { value: 0, suffix: '' } : undefined;
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

export function settingMetricName(name: string, suffix: Suffix): string {
  return `pg_settings_${name.replace(/\./g, '_')}${suffix === '' ? '' : `_${suffix}`}`;
}

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

// The short version is the first word of server_version ("15.14 (Debian 15.14-1)" → "15.14").
const SERVER_SQL = `
SELECT split_part(current_setting('server_version'), ' ', 1) AS version,
       current_setting('server_version_num') AS server_version_num,
       extract(epoch FROM pg_postmaster_start_time())::float8 AS start_time_seconds`;

interface ServerRow {
  version: string;
  server_version_num: string;
  start_time_seconds: number;
}

export const pgSettings: CollectorDefinition = {
  name: 'settings',
  description: 'pg_settings in base units, server version, postmaster start time',
  scope: 'cluster',
  defaultIntervalSeconds: 300,
  create(_config, log) {
    const expected = new Map(EXPORTED_SETTINGS);
    const warned = new Set<string>();
    return {
      async collect({ query }): Promise<Family[]> {
        const rows = await query<SettingRow>(SETTINGS_SQL, [[...expected.keys()]]);
        const byName = new Map(rows.map((r) => [r.name, r]));
        const families: GaugeFamily[] = [];
        for (const [name, suffix] of EXPORTED_SETTINGS) {
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
            if (!warned.has(name)) {
              log.warn({ setting: name, unit: row.unit, vartype: row.vartype }, 'setting not exported: unexpected unit or type');
            }
            warned.add(name);
            continue;
          }
          const unitNote = suffix === '' ? '' : ` in ${suffix}`;
          const help = `Server setting ${name}${unitNote} (pg_settings; booleans as 0/1, -1 kept as PostgreSQL's "disabled").`;
          families.push(gauge(settingMetricName(name, suffix), help, [{ labels: {}, value: converted.value }]));
        }
        const [server] = await query<ServerRow>(SERVER_SQL);
        if (server !== undefined) {
          families.push(
            gauge('pg_server_info', 'PostgreSQL server version; value 1.', [
              { labels: { version: server.version, server_version_num: server.server_version_num }, value: 1 },
            ]),
            gauge('pg_postmaster_start_time_seconds', 'Unix time the postmaster started (server restarts reset it).', [
              { labels: {}, value: server.start_time_seconds },
            ]),
          );
        }
        return families;
      },
    };
  },
};
