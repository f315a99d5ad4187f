import type { EntryState } from './entry-states.js';
import type { ApiPlan } from './plan-checks.js';
import { roundMicro } from './round-micro.js';
import type { CachedText } from './text-cache.js';

// GET /api/statements: the top statements of the last interval, ranked by recent time, with
// their redacted text, and what the rest (queryid="other") amounts to.

export interface ApiStatement {
  readonly queryid: string;
  readonly datname: string;
  readonly user: string;
  readonly toplevel: boolean | null;
  readonly class: string;
  readonly calls_per_second: number;
  readonly mean_seconds: number;
  readonly p95_seconds_estimate: number;
  readonly share_of_total_time: number;
  readonly query: string | null;
  /** The last plan check (PostgreSQL 16+, statements of pgvigil's database); null: not checked. */
  readonly plan: ApiPlan | null;
}

export interface ApiSnapshot {
  readonly at: string | null;
  readonly interval_seconds: number;
  readonly extension_version: string | null;
  readonly statements: readonly ApiStatement[];
  readonly other: {
    readonly entries: number;
    readonly calls_per_second: number;
    readonly share_of_total_time: number;
  };
}

export const EMPTY_API_SNAPSHOT: ApiSnapshot = {
  at: null,
  interval_seconds: 0,
  extension_version: null,
  statements: [],
  other: { entries: 0, calls_per_second: 0, share_of_total_time: 0 },
};

export interface ApiSnapshotInput {
  readonly now: number;
  readonly intervalSeconds: number;
  readonly extversion: string;
  readonly entries: ReadonlyMap<string, EntryState>;
  readonly members: ReadonlySet<string>;
  /** Entries folded into "other". */
  readonly folded: number;
  readonly textOf: (state: EntryState) => CachedText | undefined;
  /** The plan summary of an entry; absent: no plan checks. */
  readonly planOf?: (state: EntryState) => ApiPlan | null;
}

export function buildApiSnapshot(input: ApiSnapshotInput): ApiSnapshot {
  let totalSeconds = 0;
  let otherCalls = 0;
  let otherSeconds = 0;
  for (const [key, s] of input.entries) {
    totalSeconds += s.delta.exec_seconds;
    if (!input.members.has(key)) {
      otherCalls += s.delta.calls;
      otherSeconds += s.delta.exec_seconds;
    }
  }
  const interval = input.intervalSeconds;
  const perSecond = (x: number) => (interval > 0 ? roundMicro(x / interval) : 0);
  const share = (x: number) => (totalSeconds > 0 ? roundMicro(x / totalSeconds) : 0);
  const statements = [...input.members]
    .map((k) => input.entries.get(k)!)
    .sort((a, b) => b.score - a.score)
    .map((state): ApiStatement => {
      const s = state.sample;
      const { calls, exec_seconds: seconds } = state.delta;
      const mean = calls > 0 ? seconds / calls : s.meanSeconds;
      // Normal approximation from the view's lifetime mean/stddev, never above the observed max.
      const p95 = Math.max(mean, Math.min(s.maxSeconds, s.meanSeconds + 1.645 * s.stddevSeconds));
      return {
        queryid: s.queryid,
        datname: s.datname,
        user: s.usename,
        toplevel: s.toplevel,
        class: state.className,
        calls_per_second: perSecond(calls),
        mean_seconds: roundMicro(mean),
        p95_seconds_estimate: roundMicro(p95),
        share_of_total_time: share(seconds),
        query: input.textOf(state)?.text ?? null,
        plan: input.planOf?.(state) ?? null,
      };
    });
  return {
    at: new Date(input.now).toISOString(),
    interval_seconds: roundMicro(interval),
    extension_version: input.extversion,
    statements,
    other: { entries: input.folded, calls_per_second: perSecond(otherCalls), share_of_total_time: share(otherSeconds) },
  };
}
