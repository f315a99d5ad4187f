import { ConnectionTimeoutError, isConnectionError } from './db.js';
import type { ErrorReason } from './self-metrics.js';

/** Maps a collector failure to the reason label of pgvigil_collector_errors_total. */
export function classifyError(err: unknown): ErrorReason {
  if (err instanceof ConnectionTimeoutError) return 'timeout';
  const code = (err as { code?: unknown } | undefined)?.code;
  // 57014 query_canceled (statement_timeout), 55P03 lock_not_available (lock_timeout).
  if (code === '57014' || code === '55P03') return 'timeout';
  if (code === '42501') return 'permission';
  if (isConnectionError(err)) return 'connection';
  const message = err instanceof Error ? err.message : String(err);
  // pg_stat_statements not created in this database (42P01/42883), or not preloaded (55000).
  if (/pg_stat_statements/.test(message) && (code === '42P01' || code === '42883' || code === '55000')) {
    return 'missing_extension';
  }
  if (err instanceof MissingExtensionError) return 'missing_extension';
  return 'other';
}

export class MissingExtensionError extends Error {
  constructor(extension: string, detail: string) {
    super(`${extension}: ${detail}`);
    this.name = 'MissingExtensionError';
  }
}

/** A message safe to log: pg errors carry no secrets, but arbitrary errors are cut short. */
export function errorSummary(err: unknown): { message: string; code?: string } {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | undefined)?.code;
  return { message: message.slice(0, 500), ...(typeof code === 'string' ? { code } : {}) };
}
