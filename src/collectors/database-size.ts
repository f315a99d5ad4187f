import { databaseSelected } from '../config.js';
import { defineCollector, query } from './define.js';
import type { QueryFn } from './types.js';

// Size of every database the role may connect to. pg_database_size() stats every file of a
// database (it was 95 % of postgres_exporter's database time on a 12,000-relation database),
// so this has its own, slow default interval instead of riding on stat_database.
//
// A database dropped while the query runs: up to 17 pg_database_size() returns NULL for a
// superuser (skipped); for other roles, and from 18 for superusers too, it fails with "database
// with OID n does not exist". The next statement no longer sees the database, so the query is
// simply run again.

const LIST_SQL = `SELECT datname FROM pg_database WHERE has_database_privilege(oid, 'CONNECT')`;

// $1: the databases include/exclude patterns let through (JavaScript regexes, so filtered here
// before any size is computed), or NULL for all.
const SIZES_SQL = `
SELECT datname, pg_database_size(oid)::float8 AS size_bytes
FROM pg_database
WHERE has_database_privilege(oid, 'CONNECT') AND ($1::text[] IS NULL OR datname = ANY($1::text[]))`;

interface SizeRow {
  datname: string;
  size_bytes: number | null;
}

const ATTEMPTS = 3;

/** The error pg_database_size() raises for a database dropped mid-query (3D000 up to 17, 42704 from 18). */
export function isVanishedDatabase(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  return (
    (e?.code === '3D000' || e?.code === '42704') &&
    typeof e.message === 'string' &&
    /^database with OID \d+ does not exist/.test(e.message)
  );
}

export async function readSizes(query: QueryFn, only: readonly string[] | null): Promise<SizeRow[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await query<SizeRow>(SIZES_SQL, [only]);
    } catch (err) {
      if (attempt >= ATTEMPTS || !isVanishedDatabase(err)) throw err;
    }
  }
}

const SIZES = query({
  columns: { datname: 'text', size_bytes: 'float?' },
  run: async ({ query, config }) => {
    const filtered = config.includeDatabases !== undefined || config.excludeDatabases !== undefined;
    const only = filtered
      ? (await query<{ datname: string }>(LIST_SQL)).map((r) => r.datname).filter((d) => databaseSelected(config, d))
      : null;
    return readSizes(query, only);
  },
  metrics: [
    {
      name: 'pg_database_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Disk space used by the database (pg_database_size), for every database the role may CONNECT to.',
      labels: ['datname'],
      value: 'size_bytes',
    },
  ],
});

export const databaseSize = defineCollector({
  name: 'database_size',
  description: 'pg_database_size() of every database the role may connect to',
  scope: 'cluster',
  defaultIntervalSeconds: 300,
  queries: [SIZES],
});
