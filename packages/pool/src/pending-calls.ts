// Reusable continuations for the per-query hot path.
//
// To time a call that reports through a callback, the wrapper must hand node-postgres a function
// that remembers the call: when it started, its class, the caller's own callback or promise.
// Made per call, that function (a closure and its context, about 200 B) is the one allocation
// the wrapper would add to every query and every connection checkout. Instead an in-flight call
// borrows a PendingCall: its `done` and `executor` functions are made once, with the
// PendingCall, and the call's state lives in fields that are overwritten on reuse.
//
// node-postgres calls a query's or a checkout's callback exactly once. A PendingCall goes back to
// its list as `done` starts, before anything it calls runs, so a callback that queries again
// reuses it at once; its fields are cleared first, so a finished call keeps no result or client
// alive. A call whose callback never comes simply keeps its PendingCall, and the list makes
// another.

/** What a finished call reports to: the wrapper's own bookkeeping, then the caller. */
export type Settle<S> = (state: S, text: unknown, started: number, err: unknown, result: unknown) => void;

export type Callback = (err: unknown, result?: unknown, extra?: unknown) => void;

export class PendingCall<S> {
  private state: S | undefined;
  /** The query's text, for the slow-query log (a checkout has none). */
  private text: unknown;
  private started = 0;
  private callback: Callback | undefined;
  private resolve: ((value: unknown) => void) | undefined;
  private reject: ((reason: unknown) => void) | undefined;
  /** The callback node-postgres gets. Its name marks it as the wrapper's own (see query-timing). */
  readonly done: Callback;
  /** The executor of the promise made for a caller who passed no callback. */
  readonly executor: (resolve: (value: unknown) => void, reject: (reason: unknown) => void) => void;

  constructor(
    private readonly list: PendingCalls<S>,
    private readonly settle: Settle<S>,
  ) {
    const pgvigilQueryDone: Callback = (err, result, extra) => this.finish(err, result, extra);
    this.done = pgvigilQueryDone;
    this.executor = (resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    };
  }

  /** Starts a call that ends in the caller's callback. */
  forCallback(state: S, text: unknown, started: number, callback: Callback): Callback {
    this.begin(state, text, started);
    this.callback = callback;
    return this.done;
  }

  /** Starts a call that ends in a promise; the caller passes `done` to node-postgres after this. */
  forPromise(state: S, text: unknown, started: number): Promise<unknown> {
    this.begin(state, text, started);
    return new Promise(this.executor);
  }

  /** node-postgres threw instead of calling back: the promise rejects, nothing is measured. */
  abandon(err: unknown): void {
    const reject = this.reject;
    this.clear();
    reject?.(err);
  }

  private begin(state: S, text: unknown, started: number): void {
    this.state = state;
    this.text = text;
    this.started = started;
  }

  private finish(err: unknown, result: unknown, extra: unknown): void {
    const { state, text, started, callback, resolve, reject } = this;
    // Not in flight: a second call of one callback, which node-postgres never makes.
    if (state === undefined) return;
    this.clear();
    this.settle(state, text, started, err, result);
    if (callback !== undefined) callback(err, result, extra);
    else if (err) reject?.(err);
    else resolve?.(result);
  }

  private clear(): void {
    this.state = undefined;
    this.text = undefined;
    this.callback = undefined;
    this.resolve = undefined;
    this.reject = undefined;
    this.list.give(this);
  }
}

/** A free list of PendingCalls; it keeps at most `keep` idle ones (a burst's extra go to the GC). */
export class PendingCalls<S> {
  private readonly idle: PendingCall<S>[] = [];

  constructor(
    private readonly settle: Settle<S>,
    private readonly keep = 256,
  ) {}

  take(): PendingCall<S> {
    return this.idle.pop() ?? new PendingCall(this, this.settle);
  }

  give(call: PendingCall<S>): void {
    if (this.idle.length < this.keep) this.idle.push(call);
  }

  /** Idle PendingCalls held for reuse (tests). */
  get size(): number {
    return this.idle.length;
  }
}
