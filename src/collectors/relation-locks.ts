// pg_relation_size() and pg_total_relation_size() open the relation with AccessShareLock, so
// behind an ACCESS EXCLUSIVE lock (ALTER TABLE, VACUUM FULL, REINDEX, or one merely waiting in
// the queue) they wait, and exporters that called them piled up connections that way.
// Our size queries therefore read pg_locks in the same statement and, for any relation with a
// pending or granted AccessExclusiveLock, fall back to pg_class.relpages * block_size (as of the
// last VACUUM/ANALYZE). A lock taken between our pg_locks read and the size call is caught by
// lock_timeout; the collectors then retry once with catalog sizes only ($1 = false).

/** CTE `locked(relid)`: relations of this database with an AccessExclusiveLock held or awaited. */
export const LOCKED_RELATIONS_CTE = `
locked AS (
  SELECT DISTINCT l.relation AS relid
  FROM pg_locks l
  WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock'
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
)`;

/**
 * SQL for an index's size in bytes: pg_relation_size() unless the index or its table has an
 * AccessExclusiveLock held or awaited (or $1 is false), then relpages * block_size; NULL when the
 * SQL expression sizesWanted is false (sizes not read this poll). Needs `locked`.
 */
export function indexSizeSql(index: string, table: string, relpages: string, sizesWanted = 'true'): string {
  return `(CASE WHEN NOT ${sizesWanted} THEN NULL
             WHEN NOT $1::bool OR EXISTS (SELECT 1 FROM locked l WHERE l.relid IN (${index}, ${table}))
             THEN ${relpages}::float8 * current_setting('block_size')::float8
             ELSE pg_relation_size(${index}) END)::float8`;
}

/** SQLSTATE lock_not_available: lock_timeout fired. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Runs a size query whose first parameter says whether the pg_*_size() functions may be called,
 * retrying with catalog sizes when a lock slipped in between our pg_locks read and the call.
 */
export async function withLockFallback<Row>(run: (exactSizes: boolean) => Promise<Row[]>): Promise<Row[]> {
  try {
    return await run(true);
  } catch (err) {
    if ((err as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw err;
    return run(false);
  }
}
