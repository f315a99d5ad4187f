// How a failed query is counted: `timeout` when it was stopped by a time limit, `error` for
// everything else. By SQLSTATE, because messages are translated when lc_messages is not English:
//   57014 query_canceled: statement_timeout (or an explicit pg_cancel_backend)
//   55P03 lock_not_available: lock_timeout (or NOWAIT, a lock wait of zero)
//   25P03 idle_in_transaction_session_timeout, 25P04 transaction_timeout (PostgreSQL 17+),
//   57P05 idle_session_timeout
// node-postgres' own client-side limit (the query_timeout option) fails with "Query read timeout"
// and no SQLSTATE.

export type QueryErrorKind = 'error' | 'timeout';

const TIMEOUT_SQLSTATES: ReadonlySet<string> = new Set(['57014', '55P03', '25P03', '25P04', '57P05']);
const CLIENT_READ_TIMEOUT = 'Query read timeout';

export function queryErrorKind(err: unknown): QueryErrorKind {
  if (typeof err !== 'object' || err === null) return 'error';
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && TIMEOUT_SQLSTATES.has(code)) return 'timeout';
  return message === CLIENT_READ_TIMEOUT ? 'timeout' : 'error';
}

/** The SQLSTATE of a PostgreSQL error, or undefined: safe to log, unlike messages, which can quote values. */
export function sqlState(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
