import { ReconnectBackoffError } from './errors.js';

// When PostgreSQL cannot be reached, every collector and the heartbeat would retry on their own
// schedule; a down or overloaded server would see one connection attempt per poll. Instead the
// pool waits after each failed attempt, doubling from FIRST_RETRY_MS up to a maximum, and refuses
// attempts meanwhile with the last real failure.

const FIRST_RETRY_MS = 250;

export class ReconnectBackoff {
  private failures = 0;
  private retryAt = 0;
  private lastError: unknown;

  constructor(
    private readonly maxMs: number,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  /** The error to refuse an attempt with while the delay runs, undefined when one may start. */
  refusal(): ReconnectBackoffError | undefined {
    const wait = this.retryAt - this.now();
    return wait > 0 ? new ReconnectBackoffError(wait, this.lastError) : undefined;
  }

  failed(err: unknown): void {
    this.failures++;
    this.lastError = err;
    const base = Math.min(this.maxMs, FIRST_RETRY_MS * 2 ** Math.min(this.failures - 1, 20));
    // ±20 % jitter: a fleet of sidecars restarted together must not reconnect in lockstep.
    this.retryAt = this.now() + base * (0.8 + 0.4 * this.random());
  }

  succeeded(): void {
    this.failures = 0;
    this.retryAt = 0;
  }
}
