import { redactSql, truncateText } from 'pgvigil-pool/redact';

// The blocking trees behind GET /api/locks: every session that waits for a lock or blocks one,
// as trees from each root blocker (blocking others, waiting for nothing) down to its waiters. The
// locks collector reads the sessions on its own schedule; requests only read the last snapshot.

/** One session as the locks collector reads it (SESSIONS_SQL in locks.ts). */
export interface LockSessionRow {
  pid: number;
  /** pg_blocking_pids() of a session waiting for a lock, comma-separated; '' for one that waits for none. */
  blocked_by: string;
  datname: string;
  usename: string;
  application_name: string;
  state: string;
  state_seconds: number;
  wait_event_type: string;
  wait_event: string;
  wait_seconds: number | null;
  lock_type: string;
  lock_mode: string;
  lock_relation: string;
  query: string;
}

export interface LockTreeNode {
  readonly pid: number;
  readonly datname: string;
  readonly user: string;
  readonly application_name: string;
  readonly state: string;
  readonly state_seconds: number;
  readonly wait_event_type: string | null;
  readonly wait_event: string | null;
  /** The lock this session waits for; null for a root blocker. */
  readonly waiting_for: {
    readonly lock_type: string;
    readonly mode: string;
    readonly relation: string | null;
    readonly seconds: number | null;
  } | null;
  /** Redacted (literals replaced by ?) and cut. */
  readonly query: string;
  /** Sessions waiting on this one directly. */
  readonly blocking: readonly LockTreeNode[];
}

export interface LockTreesSnapshot {
  /** When the locks collector read the sessions; null before its first poll. */
  readonly at: string | null;
  readonly trees: readonly LockTreeNode[];
}

export const NO_LOCK_TREES: LockTreesSnapshot = { at: null, trees: [] };

/** Query text kept per session: enough to recognise the statement, small enough for a page. */
const QUERY_CHARS = 1000;

/** A waiter behind several blockers appears under each; past this depth a cycle or a pathological chain is cut. */
const MAX_DEPTH = 50;

const round = (x: number) => Math.round(x * 1000) / 1000;

export function buildLockTrees(rows: readonly LockSessionRow[], now: number): LockTreesSnapshot {
  const byPid = new Map(rows.map((r) => [r.pid, r]));
  const waitersOf = new Map<number, number[]>();
  for (const r of rows) {
    for (const blocker of r.blocked_by === '' ? [] : r.blocked_by.split(',').map(Number)) {
      const list = waitersOf.get(blocker) ?? [];
      list.push(r.pid);
      waitersOf.set(blocker, list);
    }
  }
  const node = (pid: number, path: readonly number[]): LockTreeNode | undefined => {
    const r = byPid.get(pid);
    if (r === undefined) return undefined; // ended between pg_blocking_pids() and the read of pg_stat_activity
    const below = path.length >= MAX_DEPTH ? [] : (waitersOf.get(pid) ?? []).filter((w) => !path.includes(w));
    return {
      pid: r.pid,
      datname: r.datname,
      user: r.usename,
      application_name: r.application_name,
      state: r.state,
      state_seconds: round(r.state_seconds),
      wait_event_type: r.wait_event_type === '' ? null : r.wait_event_type,
      wait_event: r.wait_event === '' ? null : r.wait_event,
      waiting_for:
        r.blocked_by === ''
          ? null
          : {
              lock_type: r.lock_type,
              mode: r.lock_mode,
              relation: r.lock_relation === '' ? null : r.lock_relation,
              seconds: r.wait_seconds === null ? null : round(r.wait_seconds),
            },
      query: truncateText(redactSql(r.query).text.trim(), QUERY_CHARS),
      blocking: below.map((w) => node(w, [...path, w])).filter((n) => n !== undefined),
    };
  };
  const roots = rows.filter((r) => r.blocked_by === '' && waitersOf.has(r.pid));
  const trees = roots.map((r) => node(r.pid, [r.pid])).filter((n) => n !== undefined);
  return { at: new Date(now).toISOString(), trees };
}
