import type { Logger } from 'pino';
import { stalenessMs } from '../config.js';
import { counter, type Family, type Labels } from '../exposition/families.js';
import type { FamilySpec, PlannedSql, RowOf, RunInput } from './collector-spec.js';
import { defineCollector, query } from './define.js';

// Wait-event history by sampling pg_stat_activity (what Oracle calls ASH): every tick (1 s by
// default) counts the active sessions per (database, wait_event_type, wait_event), and each one
// adds the time since the previous sample to its counter. rate() of these counters is then the
// average number of sessions active in each wait, "average active sessions" (AAS). A session that
// is active with no wait event is on CPU (or in a wait PostgreSQL does not instrument): CPU/CPU.
//
// From 14, pg_stat_activity.query_id names the statement a session runs (when compute_query_id is
// on, which "auto" does once pg_stat_statements is loaded); the statements collector knows each
// queryid's query class, so the same seconds are also counted per class. Sessions whose queryid
// the statements collector has not seen count as class "other".
//
// Cardinality stays bounded: wait events are a fixed vocabulary of the server, classes are the
// configured ones plus "other". A series whose wait was not seen for the staleness period leaves
// /metrics: a dropped database's (database-per-tenant platforms drop them all day), and a wait or
// class that no longer occurs; when it occurs again its counter starts from 0, which rate() reads
// as a counter reset. The tick uses one pooled connection; a tick that finds the last
// one still running is skipped by the poller (pgvigil_collector_overlaps_total), never queued.
//
// When pg_wait_sampling is loaded (shared_preload_libraries) and created in the connection
// database, its profile is read instead: the extension's background worker samples every process
// every 10 ms (pg_wait_sampling.profile_period) and counts samples per (pid, wait event, queryid),
// cumulatively. Each tick takes the growth of those counts per live client backend, times the
// period, as the seconds waited, so the figures are finer but mean the same. The profile also
// counts idle sessions, which wait on Client/ClientRead for their next command: that event is left
// out, so the sum stays average *active* sessions (a COPY FROM STDIN waiting for data is lost with
// it). A non-waiting sample (no event) is CPU. The source label says which one a series came from.

type Source = 'pg_stat_activity' | 'pg_wait_sampling';

/** After the profile failed to read (library not preloaded, say), pg_stat_activity until this long has passed. */
const PROFILE_RETRY_MS = 10 * 60_000;

/** Seconds one sample may stand for at most, in intervals: a longer gap (a stall, a suspend) is not guessed at. */
const MAX_GAP_INTERVALS = 5;

const samplesSql = (queryId: string, computeQueryId: string) => `
SELECT coalesce(datname, '') AS datname,
       coalesce(usename, '') AS usename,
       coalesce(wait_event_type, 'CPU') AS wait_event_type,
       coalesce(wait_event, 'CPU') AS wait_event,
       ${queryId} AS query_id,
       ${computeQueryId} AS compute_query_id,
       count(*)::float8 AS sessions
FROM pg_stat_activity
WHERE state = 'active' AND pid <> pg_backend_pid()
GROUP BY 1, 2, 3, 4, 5`;

// Per pid and event, the profile's sample count so far, with what the backend was doing: only
// client backends (the profile has every process, background workers included). Run once a tick.
const PROFILE_SQL = `
SELECT p.pid, coalesce(a.datname, '') AS datname, coalesce(a.usename, '') AS usename,
       coalesce(p.event_type, 'CPU') AS wait_event_type, coalesce(p.event, 'CPU') AS wait_event,
       coalesce(nullif(p.queryid, 0)::text, '') AS query_id,
       coalesce(current_setting('compute_query_id', true), 'unavailable') AS compute_query_id,
       sum(p.count)::float8 AS samples,
       current_setting('pg_wait_sampling.profile_period')::float8 / 1000 AS period_seconds
FROM @extschema@.pg_wait_sampling_profile p
JOIN pg_stat_activity a ON a.pid = p.pid
WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()
  AND (p.event_type IS DISTINCT FROM 'Client' OR p.event IS DISTINCT FROM 'ClientRead')
GROUP BY 1, 2, 3, 4, 5, 6, 7`;

interface ProfileRow {
  readonly pid: number;
  readonly datname: string;
  readonly usename: string;
  readonly wait_event_type: string;
  readonly wait_event: string;
  readonly query_id: string;
  readonly compute_query_id: string;
  readonly samples: number;
  readonly period_seconds: number;
}

const COLUMNS = {
  datname: 'text',
  usename: 'text',
  wait_event_type: 'text',
  wait_event: 'text',
  query_id: 'text',
  compute_query_id: 'text',
  sessions: 'float',
} as const;

type SampleRow = RowOf<typeof COLUMNS>;

/** Looks up the query class of a statement by database, user and queryid (the statements collector). */
export type ClassLookup = (datname: string, usename: string, queryid: string) => string | undefined;

interface WaitSeries {
  readonly labels: Labels;
  seconds: number;
  /** When a sample last added to it (ms). */
  lastAt: number;
}

interface State {
  readonly intervalMs: number;
  /** Where this tick's rows came from. */
  source: Source;
  /** The profile's counts at the last read, by pid and event; undefined before the first read. */
  profileCounts: Map<string, number> | undefined;
  /** When reading the profile last failed. */
  profileFailedAt: number | undefined;
  /** The extension's schema, quoted, read once (it is where CREATE EXTENSION put it, not always on search_path). */
  profileSchema: string | undefined;
  /** How long a series stays without a sample adding to it (the collector's staleness limit). */
  readonly keepMs: number;
  readonly log: Logger;
  lastSampleAt: number | undefined;
  sampledSeconds: number;
  readonly byEvent: Map<string, WaitSeries>;
  readonly byClass: Map<string, WaitSeries>;
  /** The last minute of ticks, for the status page's average active sessions by wait type. */
  readonly recent: { at: number; seconds: number; byType: Map<string, number> }[];
  classOf: ClassLookup | undefined;
  /** Why class attribution is off, once logged (so it is said once, not every second). */
  noClassReason: string | undefined;
}

/** Average active sessions per wait_event_type over the last minute of samples. */
export interface RecentWaits {
  readonly window_seconds: number;
  readonly by_wait_event_type: Readonly<Record<string, number>>;
}

export interface WaitsCollector {
  /** Gives the sampler the statements collector's class lookup; without one, no per-class seconds. */
  useClassLookup(lookup: ClassLookup): void;
  recentWaits(): RecentWaits;
}

const RECENT_MS = 60_000;

function recentWaits(state: State): RecentWaits {
  let window = 0;
  const sums = new Map<string, number>();
  for (const tick of state.recent) {
    window += tick.seconds;
    for (const [type, sessions] of tick.byType) sums.set(type, (sums.get(type) ?? 0) + sessions * tick.seconds);
  }
  const average = [...sums].map(([type, s]) => [type, Math.round((s / window) * 100) / 100] as const);
  return { window_seconds: Math.round(window), by_wait_event_type: Object.fromEntries(average) };
}

const BY_EVENT: FamilySpec = {
  name: 'pg_waits_seconds_total',
  type: 'counter',
  unit: 'seconds',
  help:
    'Seconds active sessions spent per wait event, sampled from pg_stat_activity (CPU: active, no wait event). ' +
    'rate() is the average number of active sessions in each wait.',
};
const BY_CLASS: FamilySpec = {
  name: 'pg_waits_class_seconds_total',
  type: 'counter',
  unit: 'seconds',
  help:
    'Seconds active sessions spent per wait event, by the query class of the statement they ran ' +
    '(pg_stat_activity.query_id, PostgreSQL 14+; statements not known to the statements collector count as other).',
};
const SAMPLED: FamilySpec = {
  name: 'pg_waits_sampled_seconds_total',
  type: 'counter',
  unit: 'seconds',
  help: 'Wall-clock seconds the wait samples stand for (a gap longer than 5 intervals counts as 5 intervals).',
};

function add(into: Map<string, WaitSeries>, labels: Labels, seconds: number, now: number): void {
  const key = Object.values(labels).join('\0');
  const entry = into.get(key);
  if (entry === undefined) into.set(key, { labels, seconds, lastAt: now });
  else {
    entry.seconds += seconds;
    entry.lastAt = now;
  }
}

function forgetStale(from: Map<string, WaitSeries>, now: number, keepMs: number): void {
  for (const [key, entry] of from) if (now - entry.lastAt > keepMs) from.delete(key);
}

/** Why this tick's sessions cannot be attributed to classes, or undefined when they can. */
function noClassReason(state: State, rows: readonly SampleRow[], major: number): string | undefined {
  if (major < 14) return 'pg_stat_activity.query_id exists from PostgreSQL 14';
  if (state.classOf === undefined) return 'the statements collector is disabled';
  const setting = rows[0]?.compute_query_id;
  if (setting === 'off') return 'compute_query_id is off (set it to auto or on)';
  return undefined;
}

/** The wall-clock seconds this tick's sample stands for. */
function tickSeconds(state: State, now: number): number {
  return state.lastSampleAt === undefined
    ? state.intervalMs / 1000
    : Math.min(now - state.lastSampleAt, MAX_GAP_INTERVALS * state.intervalMs) / 1000;
}

/**
 * The profile's growth since the last read, as sessions averaged over this tick (the same rows as
 * the pg_stat_activity sample). The first read is the baseline and gives no rows; a count that fell
 * (the profile was reset) counts from 0.
 */
function profileRows(state: State, rows: readonly ProfileRow[], seconds: number): SampleRow[] {
  const baseline = state.profileCounts === undefined;
  const counts = new Map<string, number>();
  const out: SampleRow[] = [];
  for (const r of rows) {
    const key = `${r.pid}\0${r.wait_event_type}\0${r.wait_event}\0${r.query_id}`;
    counts.set(key, r.samples);
    const before = state.profileCounts?.get(key) ?? 0;
    const grown = r.samples >= before ? r.samples - before : r.samples;
    if (baseline || grown === 0) continue;
    const { samples: _samples, period_seconds, pid: _pid, ...labels } = r;
    out.push({ ...labels, sessions: (grown * period_seconds) / seconds });
  }
  state.profileCounts = counts;
  return out;
}

/** Where the extension lives, quoted; throws with the reason when its profile cannot be used. */
async function profileSchema(query: RunInput<unknown, State>['query']): Promise<string> {
  const [row] = await query<{ schema: string; preloaded: string | null; per_pid: string | null }>(
    `SELECT quote_ident(n.nspname) AS schema,
            current_setting('pg_wait_sampling.profile_period', true) AS preloaded,
            current_setting('pg_wait_sampling.profile_pid', true) AS per_pid
     FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_wait_sampling'`,
  );
  if (row === undefined) throw new Error('pg_wait_sampling is no longer installed');
  if (row.preloaded === null) throw new Error('pg_wait_sampling is not in shared_preload_libraries');
  // With profile_pid off every sample has pid 0: nothing says which database or session waited.
  if (row.per_pid === 'off') throw new Error('pg_wait_sampling.profile_pid is off');
  return row.schema;
}

async function readSamples(
  { query, ctx, state }: RunInput<unknown, State>,
  sql: string | undefined,
  companions: PlannedSql,
): Promise<SampleRow[]> {
  const profileSql = companions.profile;
  const retry = state.profileFailedAt === undefined || ctx.now - state.profileFailedAt > PROFILE_RETRY_MS;
  if (profileSql !== undefined && retry) {
    try {
      state.profileSchema ??= await profileSchema(query);
      const rows = await query<ProfileRow>(profileSql.replaceAll('@extschema@', state.profileSchema));
      state.profileFailedAt = undefined;
      state.source = 'pg_wait_sampling';
      return profileRows(state, rows, tickSeconds(state, ctx.now));
    } catch (err) {
      // Created but not in shared_preload_libraries, or not readable: sample pg_stat_activity.
      state.profileFailedAt = ctx.now;
      state.profileCounts = undefined;
      state.profileSchema = undefined;
      state.log.info(
        { err },
        'pg_wait_sampling is installed but its profile cannot be read: sampling pg_stat_activity',
      );
    }
  }
  state.source = 'pg_stat_activity';
  return query<SampleRow>(sql!);
}

function build({ ctx, state }: RunInput<unknown, State>, rows: SampleRow[]): Family[] {
  const seconds = tickSeconds(state, ctx.now);
  state.lastSampleAt = ctx.now;
  state.sampledSeconds += seconds;
  const reason = noClassReason(state, rows, ctx.facts.major);
  if (reason !== state.noClassReason) {
    if (reason !== undefined) state.log.info({ reason }, 'wait seconds are not attributed to query classes');
    state.noClassReason = reason;
  }
  const byType = new Map<string, number>();
  for (const r of rows) byType.set(r.wait_event_type, (byType.get(r.wait_event_type) ?? 0) + r.sessions);
  state.recent.push({ at: ctx.now, seconds, byType });
  while (state.recent[0]!.at <= ctx.now - RECENT_MS) state.recent.shift();
  for (const r of rows) {
    const waited = r.sessions * seconds;
    const event = { wait_event_type: r.wait_event_type, wait_event: r.wait_event };
    add(state.byEvent, { datname: r.datname, ...event, source: state.source }, waited, ctx.now);
    if (reason === undefined) {
      const className = (r.query_id === '' ? undefined : state.classOf!(r.datname, r.usename, r.query_id)) ?? 'other';
      add(state.byClass, { class: className, ...event, source: state.source }, waited, ctx.now);
    }
  }
  forgetStale(state.byEvent, ctx.now, state.keepMs);
  forgetStale(state.byClass, ctx.now, state.keepMs);
  const samples = (m: Map<string, WaitSeries>) => [...m.values()].map((e) => ({ labels: e.labels, value: e.seconds }));
  return [
    counter(BY_EVENT.name, BY_EVENT.help, samples(state.byEvent)),
    counter(BY_CLASS.name, BY_CLASS.help, samples(state.byClass)),
    counter(SAMPLED.name, SAMPLED.help, [{ labels: {}, value: state.sampledSeconds }]),
  ];
}

const SAMPLES = query({
  sql: [
    { server: { from: 14 }, sql: samplesSql("coalesce(query_id::text, '')", "current_setting('compute_query_id')") },
    { server: { before: 14 }, sql: samplesSql("''::text", "'unavailable'::text") },
  ],
  companionSql: { profile: [{ extension: { name: 'pg_wait_sampling' }, sql: PROFILE_SQL }] },
  run: readSamples,
  columns: COLUMNS,
  built: {
    families: [BY_EVENT, BY_CLASS, SAMPLED],
    build,
  },
});

export const waits = defineCollector<Record<string, never>, State>({
  name: 'waits',
  description: 'pg_stat_activity sampled every second: seconds per wait event, per database and per query class',
  scope: 'cluster',
  defaultIntervalSeconds: 1,
  state: (_settings, config, log): State => ({
    intervalMs: (config.intervals.get('waits') ?? 1) * 1000,
    keepMs: stalenessMs(config, config.intervals.get('waits') ?? 1),
    log,
    source: 'pg_stat_activity',
    profileCounts: undefined,
    profileFailedAt: undefined,
    profileSchema: undefined,
    lastSampleAt: undefined,
    sampledSeconds: 0,
    byEvent: new Map(),
    byClass: new Map(),
    recent: [],
    classOf: undefined,
    noClassReason: undefined,
  }),
  expose: (state): WaitsCollector => ({
    useClassLookup(lookup) {
      state.classOf = lookup;
    },
    recentWaits: () => recentWaits(state),
  }),
  queries: [SAMPLES],
});
