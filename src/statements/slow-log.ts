import type { QueryClass } from 'pgvigil-pool/classes';
import type { Logger } from 'pino';
import type { QueryFn } from '../collectors/types.js';
import type { EntryState } from './entry-states.js';
import { roundMicro } from './round-micro.js';
import type { PollInput, PollIo } from './statement-sample.js';
import type { CachedText } from './text-cache.js';

// The slow-statement log: one warn line when a statement's interval mean exceeds its class
// objective (or the global threshold), at most once per queryid per interval of
// PGVIGIL_SLOW_QUERY_LOG_INTERVAL_SECONDS. On PostgreSQL 16+ the line can carry a generic plan:
// EXPLAIN (GENERIC_PLAN) plans the normalized text with its $n parameters and never executes
// it (never ANALYZE), so even an UPDATE is safe in pgvigil's read-only session.

export class RateLimiter {
  private readonly last = new Map<string, number>();

  constructor(private readonly intervalMs: number) {}

  /** True (and remembers `now`) when `key` was not let through within the interval. */
  allow(key: string, now: number): boolean {
    const at = this.last.get(key);
    if (at !== undefined && now - at < this.intervalMs) return false;
    this.last.set(key, now);
    if (this.last.size > 10_000) {
      for (const [k, t] of this.last) if (now - t >= this.intervalMs) this.last.delete(k);
    }
    return true;
  }
}

/** Statements EXPLAIN accepts; utility statements (and anything else) are never sent. */
export function isExplainable(text: string): boolean {
  return /^\s*(select|insert|update|delete|with|values|table|merge)\b/i.test(text);
}

export interface PlanNode {
  readonly 'Node Type': string;
  readonly 'Relation Name'?: string;
  readonly Schema?: string;
  readonly 'Total Cost'?: number;
  readonly Plans?: readonly PlanNode[];
}

export interface PlanSummary {
  readonly total_cost: number | undefined;
  readonly nodes: string[];
  /** schema.table of every sequential scan on a table with at least the configured row estimate. */
  readonly seq_scans_on_large_tables: string[];
}

export function seqScans(
  node: PlanNode,
  out: { schema: string; relname: string }[] = [],
): { schema: string; relname: string }[] {
  if (node['Node Type'] === 'Seq Scan' && node['Relation Name'] !== undefined) {
    out.push({ schema: node.Schema ?? 'public', relname: node['Relation Name'] });
  }
  for (const child of node.Plans ?? []) seqScans(child, out);
  return out;
}

function nodeList(node: PlanNode, out: string[] = []): string[] {
  out.push(
    node['Relation Name'] === undefined
      ? node['Node Type']
      : `${node['Node Type']} on ${node.Schema ?? ''}.${node['Relation Name']}`,
  );
  for (const child of node.Plans ?? []) nodeList(child, out);
  return out;
}

const RELATION_ROWS_SQL = `
SELECT n.nspname AS schema, c.relname, greatest(c.reltuples, 0)::float8 AS rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;

/**
 * Plans `text` (already redacted, with no literal left) generically. Runs in its own
 * transaction with a short statement_timeout; returns undefined when PostgreSQL cannot plan it
 * (a search_path or privilege difference, a parameter whose type cannot be inferred).
 */
export async function explainGeneric(
  query: QueryFn,
  text: string,
  timeoutMs: number,
  minRows: number,
): Promise<PlanSummary | undefined> {
  await query('BEGIN');
  try {
    await query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
    const rows = await query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) ${text}`,
    );
    const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
    if (plan === undefined) return undefined;
    const scans = seqScans(plan);
    let large: string[] = [];
    if (scans.length > 0) {
      const sizes = await query<{ schema: string; relname: string; rows: number }>(RELATION_ROWS_SQL, [
        scans.map((s) => s.schema),
        scans.map((s) => s.relname),
      ]);
      large = sizes.filter((r) => r.rows >= minRows).map((r) => `${r.schema}.${r.relname}`);
    }
    return { total_cost: plan['Total Cost'], nodes: nodeList(plan).slice(0, 20), seq_scans_on_large_tables: large };
  } catch {
    return undefined;
  } finally {
    await query('ROLLBACK').catch(() => undefined);
  }
}

const LOG_TEXT_LENGTH = 200;

export interface SlowLogSettings {
  readonly classes: readonly QueryClass[];
  readonly slowThresholdSeconds: number;
  readonly slowLogIntervalMs: number;
  readonly explain: boolean;
  readonly textTimeoutMs: number;
  readonly seqScanMinRows: number;
}

/** Writes the slow-statement lines of one poll and counts what it wrote and suppressed. */
export class SlowStatementLog {
  private readonly limiter: RateLimiter;
  lines = 0;
  suppressed = 0;

  constructor(
    private readonly settings: SlowLogSettings,
    private readonly log: Logger,
  ) {
    this.limiter = new RateLimiter(settings.slowLogIntervalMs);
  }

  objectiveOf(className: string): number {
    const objective = this.settings.classes.find((c) => c.name === className)?.objectiveSeconds;
    return objective ?? this.settings.slowThresholdSeconds;
  }

  async write(
    entries: Iterable<EntryState>,
    textOf: (state: EntryState) => CachedText | undefined,
    input: PollInput,
    io: PollIo,
  ): Promise<void> {
    for (const state of entries) {
      const { calls, exec_seconds: seconds } = state.delta;
      if (calls <= 0) continue;
      const mean = seconds / calls;
      const objective = this.objectiveOf(state.className);
      if (mean <= objective) continue;
      const s = state.sample;
      if (!this.limiter.allow(s.queryid, input.now)) {
        this.suppressed++;
        continue;
      }
      const cached = textOf(state);
      let plan: PlanSummary | undefined;
      if (
        this.settings.explain &&
        input.major >= 16 &&
        s.datname === input.connectionDatname &&
        cached !== undefined &&
        cached.literals === 0 &&
        !cached.truncated &&
        isExplainable(cached.text)
      ) {
        plan = await explainGeneric(io.query, cached.text, this.settings.textTimeoutMs, this.settings.seqScanMinRows);
      }
      this.lines++;
      this.log.warn(
        {
          queryid: s.queryid,
          datname: s.datname,
          usename: s.usename,
          toplevel: s.toplevel,
          class: state.className,
          calls,
          mean_seconds: roundMicro(mean),
          objective_seconds: objective,
          query: cached === undefined ? null : cached.text.slice(0, LOG_TEXT_LENGTH),
          ...(plan === undefined ? {} : { plan }),
        },
        'slow statement',
      );
    }
  }
}
