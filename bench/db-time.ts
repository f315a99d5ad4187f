import pg from 'pg';
import type { Fixture } from './fixture.js';

// Database time per exporter, from pg_stat_statements: every exporter connects as its own role,
// so the sum of total_exec_time over that role's entries is the time the server spent for it.

export interface StatementEntry {
  readonly key: string;
  readonly datname: string;
  readonly calls: number;
  readonly ms: number;
  readonly query: string;
}

export type Snapshot = Map<string, StatementEntry>;

export async function snapshot(fixture: Fixture, role: string): Promise<Snapshot> {
  const rows = await fixture.sql<{ key: string; datname: string; calls: number; ms: number; query: string }>(
    `SELECT s.dbid || ':' || s.queryid || ':' || s.toplevel AS key, d.datname, s.calls::float8 AS calls,
            s.total_exec_time::float8 AS ms, s.query
     FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
     WHERE s.userid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
    [role],
  );
  return new Map(rows.map((r) => [r.key, r]));
}

/** Entries that ran between two snapshots, with their call and time deltas. */
export function delta(before: Snapshot, after: Snapshot): StatementEntry[] {
  const out: StatementEntry[] = [];
  for (const [key, a] of after) {
    const b = before.get(key);
    const calls = a.calls - (b?.calls ?? 0);
    if (calls <= 0) continue;
    out.push({ ...a, calls, ms: a.ms - (b?.ms ?? 0) });
  }
  return out.sort((x, y) => y.ms - x.ms);
}

export const totalMs = (entries: readonly StatementEntry[]) => entries.reduce((s, e) => s + e.ms, 0);

/** The heaviest entries, one line each, for the profile printed under the table. */
export function describeTop(entries: readonly StatementEntry[], n = 8): string {
  return entries
    .slice(0, n)
    .map(
      (e) =>
        `  ${e.ms.toFixed(1).padStart(9)} ms ${String(e.calls).padStart(5)} calls  ` +
        `${e.datname.padEnd(9)} ${e.query.replace(/\s+/g, ' ').slice(0, 110)}`,
    )
    .join('\n');
}

const SET_RETURNING = new Set(['pg_ls_waldir', 'pg_stat_statements', 'pg_stat_statements_info']);

/** Functions that read what no view holds, each applied to every object once: part of the floor too. */
const PER_OBJECT_FUNCTIONS: Record<string, string> = {
  pg_database_size: 'SELECT pg_database_size(oid) FROM pg_database WHERE datallowconn',
  pg_total_relation_size: 'SELECT pg_total_relation_size(relid) FROM pg_stat_user_tables',
  pg_relation_size: 'SELECT pg_relation_size(indexrelid) FROM pg_stat_user_indexes',
  pg_indexes_size: 'SELECT pg_indexes_size(relid) FROM pg_stat_user_tables',
  pg_table_size: 'SELECT pg_table_size(relid) FROM pg_stat_user_tables',
  pg_blocking_pids: 'SELECT pg_blocking_pids(pid) FROM pg_stat_activity',
};

/**
 * The floor: every catalog view (and argument-less set-returning function) pgvigil's queries
 * name, read once with `SELECT *` in the database where pgvigil read it, on a warm connection
 * of the floor role; size functions once per object they apply to. Only pg_stat_statements is
 * read as pg_stat_statements(false): no exporter needs the texts every poll, so the cheapest full
 * read is the honest floor.
 */
export async function floorMs(fixture: Fixture, pgvigilEntries: readonly StatementEntry[], floorRole: string) {
  const byDb = new Map<string, Set<string>>();
  for (const e of pgvigilEntries) {
    const names = byDb.get(e.datname) ?? new Set<string>();
    for (const m of e.query.replace(/--[^\n]*/g, '').matchAll(/\b(pg_[a-z_]+)\b/g)) names.add(m[1]!);
    byDb.set(e.datname, names);
  }
  const reads: { datname: string; sql: string }[] = [];
  for (const [datname, names] of byDb) {
    const client = new pg.Client({ connectionString: fixture.url('postgres', datname) });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string; kind: string }>(
        `SELECT n AS name, CASE WHEN to_regclass('pg_catalog.' || n) IS NOT NULL THEN 'relation'
                                WHEN n = ANY($2) THEN 'function' END AS kind
         FROM unnest($1::text[]) n`,
        [[...names], [...SET_RETURNING]],
      );
      for (const { name, kind } of rows) {
        if (kind === 'relation' && name !== 'pg_stat_statements') reads.push({ datname, sql: `SELECT * FROM ${name}` });
        else if (name === 'pg_stat_statements') reads.push({ datname, sql: 'SELECT * FROM pg_stat_statements(false)' });
        else if (kind === 'function') reads.push({ datname, sql: `SELECT * FROM ${name}()` });
        else if (PER_OBJECT_FUNCTIONS[name] !== undefined) reads.push({ datname, sql: PER_OBJECT_FUNCTIONS[name] });
      }
    } finally {
      await client.end();
    }
  }
  const clients = new Map<string, pg.Client>();
  for (const datname of byDb.keys()) {
    const c = new pg.Client({ connectionString: fixture.url(floorRole, datname) });
    await c.connect();
    clients.set(datname, c);
  }
  const readAll = async () => {
    for (const r of [...reads]) {
      try {
        await clients.get(r.datname)!.query(r.sql);
      } catch {
        // Something pgvigil's text names but pg_monitor may not read: not part of the floor.
        reads.splice(reads.indexOf(r), 1);
      }
    }
  };
  try {
    await readAll(); // warm the backends' catalog caches, as pgvigil's long-lived connections are
    const before = await snapshot(fixture, floorRole);
    await readAll();
    const entries = delta(before, await snapshot(fixture, floorRole));
    return { ms: totalMs(entries), reads: reads.map((r) => `${r.datname}: ${r.sql}`), entries };
  } finally {
    await Promise.all([...clients.values()].map((c) => c.end()));
  }
}

/**
 * pgvigil's database time per minute with its slow reads spread over their interval. A 60 s
 * window after warm-up sees none of what runs every 300 s (settings, database sizes, index health)
 * nor the size reads of the tables and indexes queries (PGVIGIL_SIZES_INTERVAL_SECONDS, 300 s):
 * their cost is taken from one full poll, where everything ran once, and divided by 300 s.
 */
export function amortizedPerMinute(
  window: readonly StatementEntry[],
  windowS: number,
  poll: readonly StatementEntry[],
  slowIntervalS = 300,
): { ms: number; slowMs: number; sizeMs: number } {
  const inWindow = new Map(window.map((e) => [e.key, e]));
  const share = 60 / slowIntervalS;
  let slowMs = 0;
  let sizeMs = 0;
  for (const p of poll) {
    const w = inWindow.get(p.key);
    if (w === undefined) slowMs += p.ms * share;
    else if (/pg_(table|indexes|relation)_size\(/.test(p.query)) {
      // Same statement with and without sizes: the difference per run is the size read.
      sizeMs += Math.max(0, p.ms - (w.ms / w.calls) * p.calls) * share;
    }
  }
  return { ms: totalMs(window) * (60 / windowS) + slowMs + sizeMs, slowMs, sizeMs };
}
