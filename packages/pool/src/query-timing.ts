import { classify, OTHER_CLASS, type QueryClass } from './classes.js';
import { PendingCalls } from './pending-calls.js';
import { queryErrorKind, sqlState } from './query-errors.js';
import { redactSql } from './redact.js';
import { rowCount, type SlowQueryLog } from './slow-query-log.js';

// Exact per-query latency by query class, measured where the application sees it. Every client
// of the pool gets its query() wrapped once, when the pool first hands it out (pool.query() takes
// its client through pool.connect() too), so pool.query() and client.query() are timed by the
// same code, once each, from the call to the result. The wait for a free connection is not in
// it: that is pgvigil_client_pool_acquire_seconds.
//
// The hot path does a Map lookup by text (the text → class decision is cached, so the class
// regexes run once per distinct text), reads the clock twice and observes once. The callback
// node-postgres gets is a reused PendingCall's (pending-calls.ts), not a new closure per query.
// In the promise form the wrapper makes the promise itself and node-postgres, given a callback,
// does not make its own: the allocations are the ones an uninstrumented query makes anyway.

/** The part of a node-postgres Client this module uses. */
export interface QueryableClient {
  query: (...args: never[]) => unknown;
  readonly database?: string;
  readonly user?: string;
}

/** One class's series, resolved once: the hot path never builds a label object. */
export interface ClassSeries {
  readonly name: string;
  /** Above this a query is logged as slow: the class objective, or the threshold for class "other". */
  readonly slowSeconds: number;
  readonly duration: { observe(seconds: number): void };
  readonly errors: { inc(): void };
  readonly timeouts: { inc(): void };
}

type Callback = (err: unknown, result?: unknown) => void;
type RawQuery = (this: unknown, config: unknown, values?: unknown, callback?: unknown) => unknown;

// The wrapper's own callbacks carry this name, so a config object that an older node-postgres
// left one on (it assigned the callback to the caller's object) is not mistaken for the caller's.
const OWN_CALLBACK = 'pgvigilQueryDone';
const ORIGINAL_QUERY = Symbol('pgvigil-pool original query');

type Wrapped = QueryableClient & { [ORIGINAL_QUERY]?: RawQuery };

export class QueryTiming {
  private readonly byText = new Map<string, ClassSeries>();
  private readonly wrapped = new Set<Wrapped>();
  private readonly pending = new PendingCalls<ClassSeries>((series, text, started, err, result) =>
    this.settle(series, started, err, result, text),
  );

  constructor(
    private readonly classes: readonly QueryClass[],
    private readonly byClass: ReadonlyMap<string, ClassSeries>,
    private readonly cacheSize: number,
    private readonly slowLog: SlowQueryLog | undefined,
  ) {}

  /** Wraps client.query once; later calls for the same client do nothing. */
  wrap(client: QueryableClient): void {
    const c = client as Wrapped;
    if (c[ORIGINAL_QUERY] !== undefined) return;
    const original = c.query as unknown as RawQuery;
    c[ORIGINAL_QUERY] = original;
    (c as { query: unknown }).query = this.timedQuery(c, original);
    this.wrapped.add(c);
  }

  /** Puts a client's own query() back (a client the pool removed, or every client on stop). */
  unwrap(client: QueryableClient): void {
    const c = client as Wrapped;
    const original = c[ORIGINAL_QUERY];
    if (original === undefined) return;
    (c as { query: unknown }).query = original;
    delete c[ORIGINAL_QUERY];
    this.wrapped.delete(c);
  }

  unwrapAll(): void {
    for (const c of [...this.wrapped]) this.unwrap(c);
  }

  private timedQuery(client: Wrapped, original: RawQuery): RawQuery {
    const timing = this;
    return function query(config, values, callback) {
      // Submittables (pg.Query objects, cursors, query streams) deliver rows over many reads and
      // report through their own events: passed through untimed.
      const isText = typeof config === 'string';
      if (
        !isText &&
        (typeof config !== 'object' || config === null || typeof (config as { submit?: unknown }).submit === 'function')
      ) {
        return original.call(client, config, values, callback);
      }
      const text = isText ? config : (config as { text?: unknown }).text;
      let cb: Callback | undefined;
      if (typeof values === 'function') {
        cb = values as Callback;
        values = undefined;
      } else if (typeof callback === 'function') {
        cb = callback as Callback;
      } else if (!isText) {
        const own = (config as { callback?: unknown }).callback;
        if (typeof own === 'function' && own.name !== OWN_CALLBACK) cb = own as Callback;
      }
      const series = timing.seriesFor(typeof text === 'string' ? text : undefined, client);
      const call = timing.pending.take();
      if (cb !== undefined) {
        original.call(client, config, values, call.forCallback(series, text, performance.now(), cb));
        return undefined;
      }
      const promise = call.forPromise(series, text, performance.now());
      try {
        original.call(client, config, values, call.done);
      } catch (err) {
        call.abandon(err);
      }
      return promise;
    };
  }

  /** The class of a text: cached, so the regexes and the redactor run once per distinct text. */
  seriesFor(text: string | undefined, client: QueryableClient): ClassSeries {
    const other = this.byClass.get(OTHER_CLASS)!;
    // A named prepared statement may be run again by name alone; without text it has no class.
    if (text === undefined) return other;
    const cached = this.byText.get(text);
    if (cached !== undefined) return cached;
    // Classes match the text as pg_stat_statements shows it to the exporter: redacted, so both
    // sides put a statement in the same class.
    const cls = classify(this.classes, {
      text: redactSql(text).text,
      datname: client.database ?? '',
      usename: client.user ?? '',
    });
    const series = cls === undefined ? other : this.byClass.get(cls.name)!;
    // Bounded: an application that inlines values makes a new text per call; the oldest goes.
    if (this.byText.size >= this.cacheSize) this.byText.delete(this.byText.keys().next().value!);
    this.byText.set(text, series);
    return series;
  }

  private settle(series: ClassSeries, started: number, err: unknown, result: unknown, text: unknown): void {
    const seconds = (performance.now() - started) / 1000;
    // Measuring must never change what the application gets: a failing logger is not its error.
    try {
      this.record(series, seconds, err, result, text);
    } catch {
      // Nothing to report to: the application's own error path is the caller's callback.
    }
  }

  private record(series: ClassSeries, seconds: number, err: unknown, result: unknown, text: unknown): void {
    if (err) {
      if (queryErrorKind(err) === 'timeout') series.timeouts.inc();
      else series.errors.inc();
    } else {
      series.duration.observe(seconds);
    }
    if (seconds > series.slowSeconds && this.slowLog !== undefined && typeof text === 'string') {
      this.slowLog.record({
        className: series.name,
        thresholdSeconds: series.slowSeconds,
        text,
        seconds,
        rows: err ? null : rowCount(result),
        sqlState: err ? sqlState(err) : undefined,
      });
    }
  }
}
