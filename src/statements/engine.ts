import type { Logger } from 'pino';
import { counter, gauge, type Family, type HistogramFamily, type Labels, type ValueSample } from '../exposition.js';
import { classObjectiveFamilies } from './class-objective-families.js';
import { classify, OTHER_CLASS, type QueryClass } from 'pgvigil-pool/classes';
import {
  addCounters,
  diffSnapshots,
  entryKey,
  zeroCounters,
  type CounterField,
  type Counters,
  type EntrySnapshot,
} from './deltas.js';
import { bucketBounds, DeltaHistograms } from './histogram.js';
import { explainGeneric, isExplainable, RateLimiter, type PlanSummary } from './slow-log.js';
import { textKey, TextCache } from './text-cache.js';
import { decayScore, selectTop } from './top-n.js';
import type { QueryFn } from '../collectors/types.js';

// The pg_stat_statements engine: turns successive snapshots of the view into monotonic
// per-statement counters (top N by recent time, the rest folded into queryid="other"),
// latency histograms per database and per query class, a slow-statement log and the state
// behind GET /api/statements. Pure bookkeeping: the collector does the SQL.

export interface StatementSample extends EntrySnapshot {
  readonly datname: string;
  readonly usename: string;
  /** Cumulative over the entry's life, from the view (for the p95 estimate of /api/statements). */
  readonly meanSeconds: number;
  readonly stddevSeconds: number;
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
}

export interface PollIo {
  /** Raw texts by textKey for the given entries (the engine redacts them on arrival). */
  fetchTexts(entries: readonly EntrySnapshot[]): Promise<Map<string, string>>;
  readonly query: QueryFn;
}

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
}

export interface ApiSnapshot {
  readonly at: string | null;
  readonly interval_seconds: number;
  readonly extension_version: string | null;
  readonly statements: readonly ApiStatement[];
  readonly other: { readonly entries: number; readonly calls_per_second: number; readonly share_of_total_time: number };
}

interface EntryState {
  sample: StatementSample;
  /** Monotonic counters: the entry's value when first seen plus every delta since. */
  readonly acc: Counters;
  score: number;
  lastCalls: number;
  lastSeconds: number;
  className: string;
  classified: boolean;
}

const STATEMENT_FAMILIES: readonly { field: CounterField; name: string; help: string }[] = [
  { field: 'calls', name: 'pg_stat_statements_calls_total', help: 'Times the statement was executed.' },
  { field: 'exec_seconds', name: 'pg_stat_statements_seconds_total', help: 'Time spent executing the statement (total_exec_time).' },
  { field: 'plan_seconds', name: 'pg_stat_statements_plan_seconds_total', help: 'Time spent planning the statement (needs pg_stat_statements.track_planning).' },
  { field: 'rows', name: 'pg_stat_statements_rows_total', help: 'Rows retrieved or affected by the statement.' },
  { field: 'shared_blks_hit', name: 'pg_stat_statements_shared_blks_hit_total', help: 'Shared buffer hits of the statement.' },
  { field: 'shared_blks_read', name: 'pg_stat_statements_shared_blks_read_total', help: 'Shared blocks the statement read from disk or OS cache.' },
  { field: 'temp_blks_written', name: 'pg_stat_statements_temp_blks_written_total', help: 'Temporary blocks the statement wrote (work_mem spills).' },
  { field: 'blk_read_seconds', name: 'pg_stat_statements_block_read_seconds_total', help: 'Time reading shared blocks (blk_read_time / shared_blk_read_time; needs track_io_timing).' },
  { field: 'blk_write_seconds', name: 'pg_stat_statements_block_write_seconds_total', help: 'Time writing shared blocks (blk_write_time / shared_blk_write_time; needs track_io_timing).' },
  { field: 'wal_bytes', name: 'pg_stat_statements_wal_bytes_total', help: 'WAL bytes the statement generated.' },
];

const RETRY_TEXTS_MS = 60_000;
const TEXTS_PER_FETCH = 1000;
const LOG_TEXT_LENGTH = 200;

export class StatementsEngine {
  private readonly entries = new Map<string, EntryState>();
  private readonly other = new Map<string, Counters>();
  /** Databases whose "other" series exists: from then on it only grows by deltas. */
  private readonly otherSeeded = new Set<string>();
  private members = new Set<string>();
  private previous: { entries: Map<string, EntrySnapshot>; statsReset: number | null; now: number; serverStart: number } | undefined;
  private readonly texts: TextCache;
  private readonly durations: DeltaHistograms;
  private readonly classDurations: DeltaHistograms;
  private readonly slowLimiter: RateLimiter;
  private deallocAcc = 0;
  private lastDealloc: number | null = null;
  private resets = { full: 0, entry: 0 };
  private textFetches = { ok: 0, error: 0 };
  private textRetryAt = 0;
  private slowLines = 0;
  private slowSuppressed = 0;
  private api: ApiSnapshot = {
    at: null,
    interval_seconds: 0,
    extension_version: null,
    statements: [],
    other: { entries: 0, calls_per_second: 0, share_of_total_time: 0 },
  };

  constructor(
    private readonly settings: StatementsSettings,
    private readonly log: Logger,
  ) {
    this.texts = new TextCache(settings.textCacheBytes, settings.textMaxLength);
    const bounds = bucketBounds([...settings.classes.map((c) => c.objectiveSeconds), settings.slowThresholdSeconds]);
    this.durations = new DeltaHistograms(bounds);
    this.classDurations = new DeltaHistograms(bounds);
    for (const c of [...settings.classes.map((c) => c.name), OTHER_CLASS]) this.classDurations.ensure({ class: c });
    this.slowLimiter = new RateLimiter(settings.slowLogIntervalMs);
  }

  /** The current top statements for GET /api/statements. */
  snapshot(): ApiSnapshot {
    return this.api;
  }

  async poll(input: PollInput, io: PollIo): Promise<Family[]> {
    const current = mergeDuplicates(input.entries);
    const restarted = (this.previous !== undefined && this.previous.serverStart !== input.serverStart) || input.torn === true;
    const diff = diffSnapshots(restarted ? undefined : this.previous, current, input.statsReset);
    if (diff.fullReset) this.resets.full++;
    this.resets.entry += diff.entryResets;
    this.trackDealloc(input.dealloc, diff.baseline || diff.fullReset);

    // Entry state: new entries start from their current value (the baseline, or a new entry
    // that started from zero since the last poll); known ones add their delta.
    const live = new Map<string, EntryState>();
    for (const sample of current) {
      const key = entryKey(sample);
      const delta = diff.deltas.get(key) ?? zeroCounters();
      let state = this.entries.get(key);
      if (state === undefined) {
        state = {
          sample,
          acc: { ...sample.counters },
          score: diff.baseline ? sample.counters.exec_seconds : 0,
          lastCalls: 0,
          lastSeconds: 0,
          className: OTHER_CLASS,
          classified: false,
        };
        if (!diff.baseline) state.score = decayScore(0, delta.exec_seconds);
      } else {
        addCounters(state.acc, delta);
        state.score = decayScore(state.score, delta.exec_seconds);
        state.sample = sample;
      }
      state.lastCalls = delta.calls;
      state.lastSeconds = delta.exec_seconds;
      live.set(key, state);
    }
    this.entries.clear();
    for (const [k, v] of live) this.entries.set(k, v);

    await this.classifyNew(input.now, io);
    if (!diff.baseline) this.observe();

    // Top-N under the series cap: every member costs one series per statement family plus
    // its info series; each database with folded entries costs one "other" series per family.
    const families = STATEMENT_FAMILIES.filter((f) => f.field !== 'plan_seconds' || input.trackPlanning);
    const databases = new Set([...live.values()].map((s) => s.sample.datname)).size;
    const labelSets = Math.floor(this.settings.maxSeries / (families.length + 1));
    const n = Math.max(0, Math.min(this.settings.topN, labelSets - databases));
    const scores = new Map([...live].map(([k, s]) => [k, s.score]));
    this.members = selectTop(scores, this.members, n);

    let folded = 0;
    for (const [key, state] of live) {
      if (this.members.has(key)) continue;
      folded++;
      let acc = this.other.get(state.sample.datname);
      if (acc === undefined) {
        acc = zeroCounters();
        this.other.set(state.sample.datname, acc);
      }
      // A database's "other" series starts with the values of what it folds at that moment;
      // afterwards it only grows by deltas, so moving an entry in or out never makes it jump.
      addCounters(acc, this.otherSeeded.has(state.sample.datname) ? (diff.deltas.get(key) ?? zeroCounters()) : state.acc);
    }
    for (const d of this.other.keys()) this.otherSeeded.add(d);

    await this.logSlow(input, io);
    const intervalSeconds = this.previous === undefined ? 0 : (input.now - this.previous.now) / 1000;
    this.api = this.buildApi(input, intervalSeconds, folded);
    this.previous = {
      entries: new Map(current.map((e) => [entryKey(e), e])),
      statsReset: input.statsReset,
      now: input.now,
      serverStart: input.serverStart,
    };
    this.texts.trim(new Set([...live.values()].map((s) => textKey(s.sample.dbid, s.sample.userid, s.sample.queryid))), this.memberTextKeys());
    return this.families(input, families, live.size, folded);
  }

  private trackDealloc(dealloc: number | null, rebase: boolean): void {
    if (dealloc === null) return;
    if (this.lastDealloc !== null && !rebase) this.deallocAcc += Math.max(0, dealloc - this.lastDealloc);
    else if (this.lastDealloc !== null) this.deallocAcc += dealloc; // reset: what was counted since
    else this.deallocAcc = dealloc;
    this.lastDealloc = dealloc;
  }

  private memberTextKeys(): Set<string> {
    return new Set(
      [...this.members].map((k) => {
        const s = this.entries.get(k)!.sample;
        return textKey(s.dbid, s.userid, s.queryid);
      }),
    );
  }

  /** Fetches texts of entries not classified yet (members first), redacts and classifies them. */
  private async classifyNew(now: number, io: PollIo): Promise<void> {
    const pending = [...this.entries.entries()].filter(([, s]) => !s.classified);
    if (pending.length === 0) return;
    // Entries of a text we already hold (the other toplevel variant) need no fetch.
    const needFetch = pending.filter(([, s]) => !this.texts.has(textKey(s.sample.dbid, s.sample.userid, s.sample.queryid)));
    let raw = new Map<string, string>();
    let fetched = new Set<string>();
    if (needFetch.length > 0 && now >= this.textRetryAt) {
      needFetch.sort(([a, x], [b, y]) => Number(this.members.has(b)) - Number(this.members.has(a)) || y.score - x.score);
      try {
        raw = await io.fetchTexts(needFetch.slice(0, TEXTS_PER_FETCH).map(([, s]) => s.sample));
        this.textFetches.ok++;
      } catch (err) {
        this.textFetches.error++;
        this.textRetryAt = now + RETRY_TEXTS_MS;
        this.log.warn({ err: { message: (err as Error).message.slice(0, 200), code: (err as { code?: string }).code } }, 'statement text fetch failed');
        return;
      }
      fetched = new Set(needFetch.slice(0, TEXTS_PER_FETCH).map(([k]) => k));
    }
    for (const [key, state] of pending) {
      const s = state.sample;
      const tk = textKey(s.dbid, s.userid, s.queryid);
      const text = raw.get(tk);
      let redacted: string | undefined;
      if (text !== undefined) redacted = this.texts.put(tk, text).redacted;
      else if (this.texts.has(tk)) redacted = this.texts.get(tk)!.text;
      else if (!fetched.has(key)) continue; // not asked for yet
      state.className = classify(this.settings.classes, { text: redacted ?? '', datname: s.datname, usename: s.usename })?.name ?? OTHER_CLASS;
      state.classified = true;
    }
  }

  /** Each statement's Δcalls at its interval mean; only top-level statements, so nested ones are not counted twice. */
  private observe(): void {
    for (const state of this.entries.values()) {
      if (state.lastCalls <= 0 || state.sample.toplevel === false) continue;
      this.durations.observe({ datname: state.sample.datname }, state.lastCalls, state.lastSeconds);
      this.classDurations.observe({ class: state.className }, state.lastCalls, state.lastSeconds);
    }
  }

  private objectiveOf(className: string): number {
    return this.settings.classes.find((c) => c.name === className)?.objectiveSeconds ?? this.settings.slowThresholdSeconds;
  }

  private async logSlow(input: PollInput, io: PollIo): Promise<void> {
    for (const state of this.entries.values()) {
      if (state.lastCalls <= 0) continue;
      const mean = state.lastSeconds / state.lastCalls;
      const objective = this.objectiveOf(state.className);
      if (mean <= objective) continue;
      const s = state.sample;
      if (!this.slowLimiter.allow(s.queryid, input.now)) {
        this.slowSuppressed++;
        continue;
      }
      const cached = this.texts.get(textKey(s.dbid, s.userid, s.queryid));
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
      this.slowLines++;
      this.log.warn(
        {
          queryid: s.queryid,
          datname: s.datname,
          usename: s.usename,
          toplevel: s.toplevel,
          class: state.className,
          calls: state.lastCalls,
          mean_seconds: round(mean),
          objective_seconds: objective,
          query: cached === undefined ? null : cached.text.slice(0, LOG_TEXT_LENGTH),
          ...(plan === undefined ? {} : { plan }),
        },
        'slow statement',
      );
    }
  }

  private buildApi(input: PollInput, intervalSeconds: number, folded: number): ApiSnapshot {
    let totalSeconds = 0;
    let otherCalls = 0;
    let otherSeconds = 0;
    for (const [key, s] of this.entries) {
      totalSeconds += s.lastSeconds;
      if (!this.members.has(key)) {
        otherCalls += s.lastCalls;
        otherSeconds += s.lastSeconds;
      }
    }
    const perSecond = (x: number) => (intervalSeconds > 0 ? round(x / intervalSeconds) : 0);
    const share = (x: number) => (totalSeconds > 0 ? round(x / totalSeconds) : 0);
    const statements = [...this.members]
      .map((k) => this.entries.get(k)!)
      .sort((a, b) => b.score - a.score)
      .map((state): ApiStatement => {
        const s = state.sample;
        const mean = state.lastCalls > 0 ? state.lastSeconds / state.lastCalls : s.meanSeconds;
        // Normal approximation from the view's lifetime mean/stddev, never above the observed max.
        const p95 = Math.max(mean, Math.min(s.maxSeconds, s.meanSeconds + 1.645 * s.stddevSeconds));
        return {
          queryid: s.queryid,
          datname: s.datname,
          user: s.usename,
          toplevel: s.toplevel,
          class: state.className,
          calls_per_second: perSecond(state.lastCalls),
          mean_seconds: round(mean),
          p95_seconds_estimate: round(p95),
          share_of_total_time: share(state.lastSeconds),
          query: this.texts.get(textKey(s.dbid, s.userid, s.queryid))?.text ?? null,
        };
      });
    return {
      at: new Date(input.now).toISOString(),
      interval_seconds: round(intervalSeconds),
      extension_version: input.extversion,
      statements,
      other: { entries: folded, calls_per_second: perSecond(otherCalls), share_of_total_time: share(otherSeconds) },
    };
  }

  private families(input: PollInput, statementFamilies: typeof STATEMENT_FAMILIES, entries: number, folded: number): Family[] {
    const labelsOf = (s: StatementSample): Labels => ({
      datname: s.datname,
      usename: s.usename,
      queryid: s.queryid,
      ...(input.hasToplevel ? { toplevel: String(s.toplevel ?? true) } : {}),
    });
    const members = [...this.members].map((k) => this.entries.get(k)!);
    const liveDatabases = new Set([...this.entries.values()].map((s) => s.sample.datname));
    const others = [...this.other.entries()].filter(([d]) => liveDatabases.has(d));
    const out: Family[] = statementFamilies.map(({ field, name, help }) =>
      counter(name, `${help} Top statements by recent time; the rest summed in queryid="other".`, [
        ...members.map((s): ValueSample => ({ labels: labelsOf(s.sample), value: s.acc[field] })),
        ...others.map(([datname, acc]): ValueSample => ({ labels: { datname, queryid: 'other' }, value: acc[field] })),
      ]),
    );
    out.push(
      gauge(
        'pg_stat_statements_query_info',
        'Redacted, truncated text and query class of each top statement (value 1).',
        members.map((s) => ({
          labels: {
            ...labelsOf(s.sample),
            class: s.className,
            query: this.texts.get(textKey(s.sample.dbid, s.sample.userid, s.sample.queryid))?.text ?? '',
          },
          value: 1,
        })),
      ),
    );
    const histogram = (name: string, help: string, h: DeltaHistograms): HistogramFamily => ({
      type: 'histogram',
      name,
      help,
      bounds: h.bounds,
      samples: h.samples(),
    });
    out.push(
      histogram(
        'pg_statement_duration_seconds',
        'Top-level statement latency per database, from pg_stat_statements deltas: each interval a statement\'s calls count at its interval mean.',
        this.durations,
      ),
      histogram(
        'pg_statement_class_duration_seconds',
        'Top-level statement latency per query class (PGVIGIL_QUERY_CLASSES_FILE), built like pg_statement_duration_seconds.',
        this.classDurations,
      ),
      ...classObjectiveFamilies(this.settings.classes, this.classDurations.bounds),
      gauge('pg_stat_statements_entries', 'Entries currently in pg_stat_statements.', [{ labels: {}, value: entries }]),
      gauge('pg_stat_statements_entries_limit', 'pg_stat_statements.max: entries kept before the least used are deallocated.', [
        { labels: {}, value: input.maxEntries },
      ]),
      gauge('pg_stat_statements_fill_ratio', 'Entries divided by pg_stat_statements.max (near 1: entries are being evicted).', [
        { labels: {}, value: input.maxEntries > 0 ? entries / input.maxEntries : 0 },
      ]),
      gauge('pg_stat_statements_extension_info', 'Installed pg_stat_statements extension version (value 1).', [
        { labels: { version: input.extversion }, value: 1 },
      ]),
    );
    if (input.dealloc !== null) {
      out.push(
        counter('pg_stat_statements_dealloc_total', 'Times pg_stat_statements evicted its least used entries (pg_stat_statements_info.dealloc), across resets.', [
          { labels: {}, value: this.deallocAcc },
        ]),
      );
    }
    if (input.statsReset !== null) {
      out.push(
        gauge('pg_stat_statements_stats_reset_timestamp_seconds', 'Unix time of the last full pg_stat_statements_reset().', [
          { labels: {}, value: input.statsReset },
        ]),
      );
    }
    out.push(
      gauge('pgvigil_statements_tracked_entries', 'pg_stat_statements entries pgvigil tracks deltas for.', [{ labels: {}, value: entries }]),
      gauge('pgvigil_statements_folded_entries', 'Entries summed into queryid="other" in the last poll (not in the top N or over the series cap).', [
        { labels: {}, value: folded },
      ]),
      counter('pgvigil_statements_resets_total', 'pg_stat_statements resets detected: full (stats_reset moved) or entry (counters went back).', [
        { labels: { kind: 'full' }, value: this.resets.full },
        { labels: { kind: 'entry' }, value: this.resets.entry },
      ]),
      counter('pgvigil_statements_text_fetches_total', 'Separate fetches of statement texts, by result.', [
        { labels: { result: 'ok' }, value: this.textFetches.ok },
        { labels: { result: 'error' }, value: this.textFetches.error },
      ]),
      gauge('pgvigil_statements_text_cache_bytes', 'Approximate memory held by redacted statement texts.', [{ labels: {}, value: this.texts.bytes }]),
      counter('pgvigil_statements_slow_log_lines_total', 'Slow-statement log lines written.', [{ labels: {}, value: this.slowLines }]),
      counter('pgvigil_statements_slow_log_suppressed_total', 'Slow statements not logged because their queryid was logged recently.', [
        { labels: {}, value: this.slowSuppressed },
      ]),
    );
    return out;
  }
}

/** Rows without privilege to see the queryid (NULL) share one key: sum them instead of duplicating. */
function mergeDuplicates(entries: readonly StatementSample[]): StatementSample[] {
  const byKey = new Map<string, StatementSample>();
  for (const e of entries) {
    const key = entryKey(e);
    const seen = byKey.get(key);
    if (seen === undefined) byKey.set(key, { ...e, counters: { ...e.counters } });
    else addCounters(seen.counters, e.counters);
  }
  return [...byKey.values()];
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
