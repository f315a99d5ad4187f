import { redactSql, truncateText } from './redact.js';

// The application's slow-query log: one warn line when a query took longer than its class
// objective (or the threshold, for queries of no class), with the text redacted (literals become
// `?`, comments go) and at most one line per redacted text per interval, so a slow endpoint under
// load cannot flood the log. The next line of the same text says how many were left out.

/** What the log needs of a logger: pino's `warn(object, message)`. */
export interface QueryLogger {
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface SlowQuery {
  readonly className: string;
  readonly thresholdSeconds: number;
  readonly text: string;
  readonly seconds: number;
  /** Rows the query returned or changed (node-postgres rowCount, summed over a multi-statement text). */
  readonly rows: number | null;
  /** SQLSTATE when the query failed (never the message: it can quote the values). */
  readonly sqlState: string | undefined;
}

/** The longest text a log line carries; longer texts are cut and marked with an ellipsis. */
export const LOG_TEXT_LENGTH = 2000;
/** Texts remembered for rate limiting; beyond it the oldest is forgotten (and may log again). */
const REMEMBERED_TEXTS = 1000;

interface Seen {
  at: number;
  suppressed: number;
}

export class SlowQueryLog {
  private readonly seen = new Map<string, Seen>();

  constructor(
    private readonly logger: QueryLogger,
    private readonly intervalMs: number,
    private readonly fields: Readonly<Record<string, string>>,
    private readonly now: () => number = Date.now,
  ) {}

  record(q: SlowQuery): void {
    const text = truncateText(redactSql(q.text).text, LOG_TEXT_LENGTH);
    const now = this.now();
    const seen = this.seen.get(text);
    if (seen !== undefined && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    const suppressed = seen?.suppressed ?? 0;
    this.seen.delete(text);
    if (this.seen.size >= REMEMBERED_TEXTS) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(text, { at: now, suppressed: 0 });
    this.logger.warn(
      {
        ...this.fields,
        class: q.className,
        duration_seconds: Math.round(q.seconds * 1e6) / 1e6,
        threshold_seconds: q.thresholdSeconds,
        rows: q.rows,
        ...(q.sqlState === undefined ? {} : { sqlstate: q.sqlState }),
        ...(suppressed > 0 ? { suppressed } : {}),
        query: text,
      },
      'slow query',
    );
  }
}

/** node-postgres' rowCount of a result, or of all results of a multi-statement text. */
export function rowCount(result: unknown): number | null {
  if (Array.isArray(result)) {
    let rows: number | null = null;
    for (const r of result) {
      const n = rowCount(r);
      if (n !== null) rows = (rows ?? 0) + n;
    }
    return rows;
  }
  const n = typeof result === 'object' && result !== null ? (result as { rowCount?: unknown }).rowCount : undefined;
  return typeof n === 'number' ? n : null;
}
