import type { QueryClass } from 'pgvigil-pool/classes';
import type { QueryFn } from '../collectors/types.js';
import type { EntrySnapshot } from './deltas.js';

// What the pg_stat_statements collector hands the engine each poll, and the engine's settings.

export interface StatementSample extends EntrySnapshot {
  readonly datname: string;
  readonly usename: string;
  /**
   * Cumulative over the entry's life (min/max since minmax_stats_since on 1.11+), from the view:
   * mean_exec_time, stddev_exec_time (population), min_exec_time, max_exec_time.
   */
  readonly meanSeconds: number;
  readonly stddevSeconds: number;
  readonly minSeconds: number;
  readonly maxSeconds: number;
}

export interface StatementsSettings {
  readonly topN: number;
  readonly maxSeries: number;
  readonly textMaxLength: number;
  readonly textCacheBytes: number;
  readonly textTimeoutMs: number;
  readonly slowThresholdSeconds: number;
  readonly slowLogIntervalMs: number;
  readonly explain: boolean;
  readonly seqScanMinRows: number;
  readonly classes: readonly QueryClass[];
  /**
   * How long the cumulative series of a database without entries stay exported (its histogram, its
   * "other" series): the collector's staleness limit.
   */
  readonly seriesStaleMs: number;
  /** Plan checks (src/statements/plan-checks.ts): on, plans per poll, large-table bytes, re-check age. */
  readonly planChecks: boolean;
  readonly planChecksPerPoll: number;
  readonly planSeqScanMinBytes: number;
  readonly planRecheckMs: number;
}

export interface PollInput {
  readonly now: number;
  readonly entries: readonly StatementSample[];
  /** pg_stat_statements_info (1.9+), epoch seconds / count; null before. */
  readonly statsReset: number | null;
  readonly dealloc: number | null;
  readonly maxEntries: number;
  readonly trackPlanning: boolean;
  readonly hasToplevel: boolean;
  /** Identifies the server incarnation: a change (restart, failover) starts a new baseline. */
  readonly serverStart: number;
  /** A full reset happened while the snapshot was read: use it as a new baseline only. */
  readonly torn?: boolean;
  readonly extversion: string;
  /** The database this connection is on (EXPLAIN only runs for statements of this database). */
  readonly connectionDatname: string;
  readonly major: number;
  /**
   * min/max of every entry cover only the calls since the previous poll (it reset them with
   * pg_stat_statements_reset(..., minmax_only => true)); otherwise they cover the entry's life.
   */
  readonly intervalExtremes?: boolean;
}

export interface PollIo {
  /** Raw texts by textKey for the given entries (the engine redacts them on arrival). */
  fetchTexts(entries: readonly EntrySnapshot[]): Promise<Map<string, string>>;
  readonly query: QueryFn;
}
