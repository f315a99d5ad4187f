import type { Logger } from 'pino';
import type { Family } from '../exposition/families.js';
import { type ApiSnapshot, buildApiSnapshot, EMPTY_API_SNAPSHOT } from './api-snapshot.js';
import { diffSnapshots, type EntrySnapshot, entryKey } from './deltas.js';
import { type EntryState, mergeDuplicates, updateEntries } from './entry-states.js';
import { LatencyHistograms } from './latency-histograms.js';
import { OtherSeries } from './other-series.js';
import { PlanChecks } from './plan-checks.js';
import { SlowStatementLog } from './slow-log.js';
import { buildFamilies, counterFamiliesFor, statementLabels } from './statement-families.js';
import type { PollInput, PollIo, StatementsSettings } from './statement-sample.js';
import { StatementTexts } from './statement-texts.js';
import { StoreResets } from './store-resets.js';
import { selectTop, topNSize } from './top-n.js';

// The pg_stat_statements engine: turns successive snapshots of the view into monotonic
// per-statement counters (top N by recent time, the rest folded into queryid="other"),
// latency histograms per database and per query class, a slow-statement log and the state
// behind GET /api/statements. Pure bookkeeping: the collector does the SQL. Each concern lives
// in its own file; this one only decides the order of a poll.

export type { ApiSnapshot, ApiStatement } from './api-snapshot.js';
export type { PollInput, PollIo, StatementSample, StatementsSettings } from './statement-sample.js';

interface PreviousPoll {
  readonly entries: Map<string, EntrySnapshot>;
  readonly statsReset: number | null;
  readonly now: number;
  readonly serverStart: number;
}

export class StatementsEngine {
  private entries = new Map<string, EntryState>();
  private members = new Set<string>();
  private previous: PreviousPoll | undefined;
  private readonly other: OtherSeries;
  private readonly texts: StatementTexts;
  private readonly latency: LatencyHistograms;
  private readonly slowLog: SlowStatementLog;
  private readonly plans: PlanChecks;
  private readonly resets = new StoreResets();
  private api: ApiSnapshot = EMPTY_API_SNAPSHOT;
  /** Query class by (datname, usename, queryid), built on first use after each poll. */
  private classIndex: Map<string, string> | undefined;

  constructor(
    private readonly settings: StatementsSettings,
    log: Logger,
  ) {
    this.texts = new StatementTexts(settings, log);
    this.latency = new LatencyHistograms(settings);
    this.other = new OtherSeries(settings.seriesStaleMs);
    this.slowLog = new SlowStatementLog(settings, log);
    this.plans = new PlanChecks(settings, log);
  }

  /** The current top statements for GET /api/statements. */
  snapshot(): ApiSnapshot {
    return this.api;
  }

  /**
   * The query class of a statement as pg_stat_activity names it (its database, user and query_id),
   * so a sampled session can be attributed to its class; undefined when no entry has that queryid.
   */
  classOf(datname: string, usename: string, queryid: string): string | undefined {
    if (this.classIndex === undefined) {
      const index = new Map<string, string>();
      for (const { sample, className } of this.entries.values()) {
        // A statement run at top level names the session's query; nested entries only fill gaps.
        const exact = `${sample.datname}\0${sample.usename}\0${sample.queryid}`;
        if (sample.toplevel !== false || !index.has(exact)) index.set(exact, className);
        if (!index.has(sample.queryid)) index.set(sample.queryid, className);
      }
      this.classIndex = index;
    }
    return this.classIndex.get(`${datname}\0${usename}\0${queryid}`) ?? this.classIndex.get(queryid);
  }

  async poll(input: PollInput, io: PollIo): Promise<Family[]> {
    const current = mergeDuplicates(input.entries);
    const previous = this.previous;
    const newIncarnation = previous !== undefined && previous.serverStart !== input.serverStart;
    const diff = diffSnapshots(newIncarnation || input.torn === true ? undefined : previous, current, input.statsReset);
    this.resets.record(diff, input.dealloc);
    this.entries = updateEntries(this.entries, current, diff);

    await this.texts.classifyNew(this.entries, this.members, input.now, io);
    this.classIndex = undefined;
    if (!diff.baseline) this.latency.observe(this.entries.values(), input.intervalExtremes === true);
    const databases = new Set([...this.entries.values()].map((s) => s.sample.datname));
    this.latency.keepDatabases(databases, input.now);

    const counterFamilies = counterFamiliesFor(input.trackPlanning);
    const n = topNSize(this.settings, counterFamilies.length, databases.size);
    const scores = new Map([...this.entries].map(([k, s]) => [k, s.score]));
    this.members = selectTop(scores, this.members, n);
    const folded = this.other.fold(this.entries, this.members);

    const textOf = (state: EntryState) => this.texts.of(state);
    await this.slowLog.write(this.entries.values(), textOf, input, io);
    await this.plans.check({
      now: input.now,
      major: input.major,
      connectionDatname: input.connectionDatname,
      entries: this.entries,
      members: this.members,
      textOf,
      query: io.query,
    });
    this.api = buildApiSnapshot({
      now: input.now,
      intervalSeconds: previous === undefined ? 0 : (input.now - previous.now) / 1000,
      extversion: input.extversion,
      entries: this.entries,
      members: this.members,
      folded,
      textOf,
      planOf: (state) => this.plans.apiPlan(state),
    });
    this.previous = {
      entries: new Map(current.map((e) => [entryKey(e), e])),
      statsReset: input.statsReset,
      now: input.now,
      serverStart: input.serverStart,
    };
    this.texts.trim(this.entries, this.members);
    const planFamilies = this.plans.families(input.major, this.entries, this.members, (state) =>
      statementLabels(state.sample, input.hasToplevel),
    );
    const families = buildFamilies({
      poll: input,
      counterFamilies,
      members: [...this.members].map((k) => this.entries.get(k)!),
      others: this.other.live(databases, input.now),
      textOf,
      latency: this.latency.families(),
      classes: this.settings.classes,
      bounds: this.latency.bounds,
      entries: this.entries.size,
      folded,
      resets: this.resets,
      textFetches: this.texts.fetches,
      textCacheBytes: this.texts.bytes,
      slowLog: this.slowLog,
    });
    return [...families, ...planFamilies];
  }
}
