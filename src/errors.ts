// Every error pgvigil raises on purpose, what a failure means for the metrics (its reason), and
// the one way a piece of work is given up on after a deadline. A collector failure is counted in
// pgvigil_collector_errors_total{reason} and logged once per distinct failure; the reason is
// decided here and nowhere else.

/** The `reason` label of pgvigil_collector_errors_total. */
export type ErrorReason = 'timeout' | 'permission' | 'connection' | 'missing_extension' | 'other';

/** pgvigil gave up waiting: for a free connection, for a query, or for a collector's run. */
export class ConnectionTimeoutError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'ConnectionTimeoutError';
  }
}

/**
 * Refused without trying: the server failed recently and the retry delay has not passed yet.
 * Carries the last real failure as its cause, with its message and code, so that "logged once per
 * distinct failure" sees the same failure again rather than a new one.
 */
export class ReconnectBackoffError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly retryInMs: number,
    cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : 'PostgreSQL unreachable', { cause });
    this.name = 'ReconnectBackoffError';
    this.code = (cause as { code?: string } | undefined)?.code;
  }
}

/**
 * A collector's run failed on one database (or on the cluster: datname ''). Wraps what PostgreSQL
 * or the collector threw as its cause, so the log says where it happened and keeps what happened.
 */
export class CollectorRunError extends Error {
  readonly code: string | undefined;
  constructor(
    readonly collector: string,
    readonly datname: string,
    cause: unknown,
  ) {
    super(`collector ${collector} failed${datname === '' ? '' : ` on database ${datname}`}`, { cause });
    this.name = 'CollectorRunError';
    this.code = codeOf(cause);
  }
}

/**
 * The server changed under a plan made from its facts (an ALTER EXTENSION … UPDATE since the
 * connection's facts were read): the work is not wrong, only planned for the old server. The pool
 * re-reads the facts and runs the work once more, so the next plan fits the server as it is now.
 */
export class StaleServerFactsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StaleServerFactsError';
  }
}

export class MissingExtensionError extends Error {
  constructor(extension: string, detail: string, options?: ErrorOptions) {
    super(`${extension}: ${detail}`, options);
    this.name = 'MissingExtensionError';
  }
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EPIPE',
  'EAI_AGAIN',
  'ENOENT',
]);

const CONNECTION_LOST =
  /Connection terminated|connection timeout|Client has encountered a connection error|not queryable|^SASL: /i;

/** True when the error means the server could not be reached or dropped us, not that a query failed. */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof ReconnectBackoffError) return true;
  const code = (err as { code?: string }).code;
  if (code !== undefined) {
    if (CONNECTION_CODES.has(code)) return true;
    // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now; 53300: too many connections.
    if (/^08/.test(code) || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    if (code === '28P01' || code === '28000') return true; // authentication failed: we cannot use the server
  }
  // SASL/auth errors of node-postgres carry no code (e.g. no password given for a SCRAM role).
  return CONNECTION_LOST.test(err.message);
}

/**
 * Maps a collector failure to the reason label of pgvigil_collector_errors_total: the first error
 * along the cause chain that has a reason other than 'other' decides.
 */
export function classifyError(err: unknown): ErrorReason {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; e = causeOf(e), depth++) {
    const reason = reasonOf(e);
    if (reason !== 'other') return reason;
  }
  return 'other';
}

/**
 * Whether a failure on a discovered database may mean the database is gone: connecting to it found
 * no such database (SQLSTATE 3D000, invalid_catalog_name: dropped or renamed since discovery), or
 * the session was cut (DROP DATABASE ... WITH (FORCE) terminates the sessions on it first).
 */
export function mayMeanDatabaseGone(err: unknown): boolean {
  return isDatabaseMissing(err) || classifyError(err) === 'connection';
}

/** Whether err, or an error along its cause chain, says the database does not exist (SQLSTATE 3D000). */
export function isDatabaseMissing(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; e = causeOf(e), depth++) {
    if (codeOf(e) === '3D000') return true;
  }
  return false;
}

/** Whether err, or an error along its cause chain, is a StaleServerFactsError. */
export function isStaleServerFacts(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 10; e = causeOf(e), depth++) {
    if (e instanceof StaleServerFactsError) return true;
  }
  return false;
}

/** Whether err is PostgreSQL's query_canceled (57014): statement_timeout fired. */
export function isStatementTimeout(err: unknown): boolean {
  return codeOf(err) === '57014';
}

function reasonOf(err: unknown): ErrorReason {
  if (err instanceof ConnectionTimeoutError) return 'timeout';
  const code = codeOf(err);
  // 57014 query_canceled (statement_timeout), 55P03 lock_not_available (lock_timeout).
  if (code === '57014' || code === '55P03') return 'timeout';
  if (code === '42501') return 'permission';
  if (isConnectionError(err)) return 'connection';
  if (err instanceof MissingExtensionError) return 'missing_extension';
  const message = err instanceof Error ? err.message : String(err);
  // pg_stat_statements not created in this database (42P01/42883), or not preloaded (55000).
  if (/pg_stat_statements/.test(message) && (code === '42P01' || code === '42883' || code === '55000')) {
    return 'missing_extension';
  }
  return 'other';
}

/** What makes two failures "the same" for logging: the reason and the root cause's SQLSTATE or message. */
export function failureIdentity(err: unknown): string {
  let root = err;
  for (let depth = 0; causeOf(root) !== undefined && depth < 10; depth++) root = causeOf(root);
  return `${classifyError(err)}:${codeOf(root) ?? (root instanceof Error ? root.message : String(root))}`;
}

function causeOf(err: unknown): unknown {
  return err instanceof Error ? err.cause : undefined;
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The timer functions withDeadline uses; tests pass a fake clock's. */
export interface DeadlineTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const realTimers: DeadlineTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * `work`, or the error `onTimeout` returns once `ms` have passed first. The work is not cancelled
 * (a promise cannot be): `onTimeout` is where the caller stops what the work holds, e.g. marks its
 * connection broken. A late failure of the work goes nowhere (the race has handled it): the timeout
 * was reported instead.
 */
export async function withDeadline<T>(
  work: Promise<T>,
  ms: number,
  onTimeout: () => Error,
  timers: DeadlineTimers = realTimers,
): Promise<T> {
  let handle: unknown;
  const expired = new Promise<never>((_, reject) => {
    handle = timers.setTimeout(() => reject(onTimeout()), Math.max(0, ms));
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    timers.clearTimeout(handle);
  }
}
