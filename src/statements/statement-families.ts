import type { QueryClass } from 'pgvigil-pool/classes';
import type { FamilySpec } from '../collectors/collector-spec.js';
import { counter, type Family, gauge, type Labels, type ValueSample } from '../exposition/families.js';
import { CLASS_OBJECTIVE_FAMILIES, classObjectiveFamilies } from './class-objective-families.js';
import type { CounterField, Counters } from './deltas.js';
import type { EntryState } from './entry-states.js';
import { LATENCY_FAMILIES } from './latency-histograms.js';
import { PLAN_CHECK_FAMILIES } from './plan-checks.js';
import type { PollInput, StatementSample } from './statement-sample.js';
import type { CachedText } from './text-cache.js';

// The families of one statements poll, in exposition order: per-statement counters (top N plus
// queryid="other"), the query info, latency histograms, class objectives, the state of the
// pg_stat_statements store, and pgvigil's own bookkeeping. Each family is declared once here (or
// beside the code that builds it) with its full name, type and help; STATEMENT_FAMILIES lists them
// all for the statements collector's definition, which checks them at load.

const TOP_N_NOTE = ' Top statements by recent time; the rest summed in queryid="other".';

type CounterFamily = FamilySpec & { readonly type: 'counter'; readonly field: CounterField };

export const STATEMENT_COUNTER_FAMILIES: readonly CounterFamily[] = [
  {
    field: 'calls',
    name: 'pg_stat_statements_calls_total',
    type: 'counter',
    help: 'Times the statement was executed.',
  },
  {
    field: 'exec_seconds',
    name: 'pg_stat_statements_seconds_total',
    type: 'counter',
    unit: 'seconds',
    help: 'Time spent executing the statement (total_exec_time).',
  },
  {
    field: 'plan_seconds',
    name: 'pg_stat_statements_plan_seconds_total',
    type: 'counter',
    unit: 'seconds',
    help: 'Time spent planning the statement (needs pg_stat_statements.track_planning).',
  },
  {
    field: 'rows',
    name: 'pg_stat_statements_rows_total',
    type: 'counter',
    help: 'Rows retrieved or affected by the statement.',
  },
  {
    field: 'shared_blks_hit',
    name: 'pg_stat_statements_shared_blks_hit_total',
    type: 'counter',
    help: 'Shared buffer hits of the statement.',
  },
  {
    field: 'shared_blks_read',
    name: 'pg_stat_statements_shared_blks_read_total',
    type: 'counter',
    help: 'Shared blocks the statement read from disk or OS cache.',
  },
  {
    field: 'temp_blks_written',
    name: 'pg_stat_statements_temp_blks_written_total',
    type: 'counter',
    help: 'Temporary blocks the statement wrote (work_mem spills).',
  },
  {
    field: 'blk_read_seconds',
    name: 'pg_stat_statements_block_read_seconds_total',
    type: 'counter',
    unit: 'seconds',
    help: 'Time reading shared blocks (blk_read_time / shared_blk_read_time; needs track_io_timing).',
  },
  {
    field: 'blk_write_seconds',
    name: 'pg_stat_statements_block_write_seconds_total',
    type: 'counter',
    unit: 'seconds',
    help: 'Time writing shared blocks (blk_write_time / shared_blk_write_time; needs track_io_timing).',
  },
  {
    field: 'wal_bytes',
    name: 'pg_stat_statements_wal_bytes_total',
    type: 'counter',
    unit: 'bytes',
    help: 'WAL bytes the statement generated.',
  },
];

const QUERY_INFO = {
  name: 'pg_stat_statements_query_info',
  type: 'gauge',
  help: 'Redacted, truncated text and query class of each top statement (value 1).',
} as const satisfies FamilySpec;

const STORE = {
  entries: { name: 'pg_stat_statements_entries', type: 'gauge', help: 'Entries currently in pg_stat_statements.' },
  limit: {
    name: 'pg_stat_statements_entries_limit',
    type: 'gauge',
    help: 'pg_stat_statements.max: entries kept before the least used are deallocated.',
  },
  fill: {
    name: 'pg_stat_statements_fill_ratio',
    type: 'gauge',
    unit: 'ratio',
    help: 'Entries divided by pg_stat_statements.max (near 1: entries are being evicted).',
  },
  extension: {
    name: 'pg_stat_statements_extension_info',
    type: 'gauge',
    help: 'Installed pg_stat_statements extension version (value 1).',
  },
  dealloc: {
    name: 'pg_stat_statements_dealloc_total',
    type: 'counter',
    help: 'Times pg_stat_statements evicted its least used entries (pg_stat_statements_info.dealloc), across resets.',
  },
  statsReset: {
    name: 'pg_stat_statements_stats_reset_timestamp_seconds',
    type: 'gauge',
    unit: 'seconds',
    help: 'Unix time of the last full pg_stat_statements_reset().',
  },
} as const satisfies Record<string, FamilySpec>;

const BOOKKEEPING = {
  tracked: {
    name: 'pgvigil_statements_tracked_entries',
    type: 'gauge',
    help: 'pg_stat_statements entries pgvigil tracks deltas for.',
  },
  folded: {
    name: 'pgvigil_statements_folded_entries',
    type: 'gauge',
    help: 'Entries summed into queryid="other" in the last poll (not in the top N or over the series cap).',
  },
  resets: {
    name: 'pgvigil_statements_resets_total',
    type: 'counter',
    help: 'pg_stat_statements resets detected: full (stats_reset moved) or entry (counters went back).',
  },
  textFetches: {
    name: 'pgvigil_statements_text_fetches_total',
    type: 'counter',
    help: 'Separate fetches of statement texts, by result.',
  },
  textCache: {
    name: 'pgvigil_statements_text_cache_bytes',
    type: 'gauge',
    unit: 'bytes',
    help: 'Approximate memory held by redacted statement texts.',
  },
  slowLines: {
    name: 'pgvigil_statements_slow_log_lines_total',
    type: 'counter',
    help: 'Slow-statement log lines written.',
  },
  slowSuppressed: {
    name: 'pgvigil_statements_slow_log_suppressed_total',
    type: 'counter',
    help: 'Slow statements not logged because their queryid was logged recently.',
  },
} as const satisfies Record<string, FamilySpec>;

/** Every family a statements poll can build, in exposition order. */
export const STATEMENT_FAMILIES: readonly FamilySpec[] = [
  ...STATEMENT_COUNTER_FAMILIES,
  QUERY_INFO,
  ...LATENCY_FAMILIES,
  ...CLASS_OBJECTIVE_FAMILIES,
  ...Object.values(STORE),
  ...Object.values(BOOKKEEPING),
  ...Object.values(PLAN_CHECK_FAMILIES),
];

/** The counter families this poll exports: plan time only when PostgreSQL collects it. */
export function counterFamiliesFor(trackPlanning: boolean): typeof STATEMENT_COUNTER_FAMILIES {
  return STATEMENT_COUNTER_FAMILIES.filter((f) => f.field !== 'plan_seconds' || trackPlanning);
}

export interface FamiliesInput {
  readonly poll: PollInput;
  readonly counterFamilies: typeof STATEMENT_COUNTER_FAMILIES;
  readonly members: readonly EntryState[];
  /** "other" counters of databases that still have entries. */
  readonly others: readonly [string, Counters][];
  readonly textOf: (state: EntryState) => CachedText | undefined;
  readonly latency: readonly Family[];
  readonly classes: readonly QueryClass[];
  /** Bucket bounds of the class histograms: each objective's bucket is named by its `le`. */
  readonly bounds: readonly number[];
  readonly entries: number;
  readonly folded: number;
  readonly resets: { readonly full: number; readonly entry: number; readonly dealloc: number };
  readonly textFetches: { readonly ok: number; readonly error: number };
  readonly textCacheBytes: number;
  readonly slowLog: { readonly lines: number; readonly suppressed: number };
}

/** The labels that name one statement in every per-statement family. */
export function statementLabels(s: StatementSample, hasToplevel: boolean): Labels {
  return {
    datname: s.datname,
    usename: s.usename,
    queryid: s.queryid,
    ...(hasToplevel ? { toplevel: String(s.toplevel ?? true) } : {}),
  };
}

export function buildFamilies(input: FamiliesInput): Family[] {
  const { poll } = input;
  const labelsOf = (s: StatementSample): Labels => statementLabels(s, poll.hasToplevel);
  const out: Family[] = input.counterFamilies.map(({ field, name, help }) =>
    counter(name, `${help}${TOP_N_NOTE}`, [
      ...input.members.map((s): ValueSample => ({ labels: labelsOf(s.sample), value: s.acc[field] })),
      ...input.others.map(
        ([datname, acc]): ValueSample => ({ labels: { datname, queryid: 'other' }, value: acc[field] }),
      ),
    ]),
  );
  out.push(
    gauge(
      QUERY_INFO.name,
      QUERY_INFO.help,
      input.members.map((s) => ({
        labels: { ...labelsOf(s.sample), class: s.className, query: input.textOf(s)?.text ?? '' },
        value: 1,
      })),
    ),
    ...input.latency,
    ...classObjectiveFamilies(input.classes, input.bounds),
    ...storeFamilies(poll, input.entries, input.resets.dealloc),
    ...bookkeepingFamilies(input),
  );
  return out;
}

function storeFamilies(poll: PollInput, entries: number, dealloc: number): Family[] {
  const out: Family[] = [
    gauge(STORE.entries.name, STORE.entries.help, [{ labels: {}, value: entries }]),
    gauge(STORE.limit.name, STORE.limit.help, [{ labels: {}, value: poll.maxEntries }]),
    gauge(STORE.fill.name, STORE.fill.help, [
      { labels: {}, value: poll.maxEntries > 0 ? entries / poll.maxEntries : 0 },
    ]),
    gauge(STORE.extension.name, STORE.extension.help, [{ labels: { version: poll.extversion }, value: 1 }]),
  ];
  // pg_stat_statements_info (extension 1.9+) is where both come from; before it they are absent.
  if (poll.dealloc !== null) {
    out.push(counter(STORE.dealloc.name, STORE.dealloc.help, [{ labels: {}, value: dealloc }]));
  }
  if (poll.statsReset !== null) {
    out.push(gauge(STORE.statsReset.name, STORE.statsReset.help, [{ labels: {}, value: poll.statsReset }]));
  }
  return out;
}

function bookkeepingFamilies(input: FamiliesInput): Family[] {
  return [
    gauge(BOOKKEEPING.tracked.name, BOOKKEEPING.tracked.help, [{ labels: {}, value: input.entries }]),
    gauge(BOOKKEEPING.folded.name, BOOKKEEPING.folded.help, [{ labels: {}, value: input.folded }]),
    counter(BOOKKEEPING.resets.name, BOOKKEEPING.resets.help, [
      { labels: { kind: 'full' }, value: input.resets.full },
      { labels: { kind: 'entry' }, value: input.resets.entry },
    ]),
    counter(BOOKKEEPING.textFetches.name, BOOKKEEPING.textFetches.help, [
      { labels: { result: 'ok' }, value: input.textFetches.ok },
      { labels: { result: 'error' }, value: input.textFetches.error },
    ]),
    gauge(BOOKKEEPING.textCache.name, BOOKKEEPING.textCache.help, [{ labels: {}, value: input.textCacheBytes }]),
    counter(BOOKKEEPING.slowLines.name, BOOKKEEPING.slowLines.help, [{ labels: {}, value: input.slowLog.lines }]),
    counter(BOOKKEEPING.slowSuppressed.name, BOOKKEEPING.slowSuppressed.help, [
      { labels: {}, value: input.slowLog.suppressed },
    ]),
  ];
}
