import { seconds } from '../config.js';
import { isStatementTimeout } from '../errors.js';
import type { QueryFn } from './types.js';

// Per-object sizes change slowly and cost most of the table and index reads: pg_table_size,
// pg_indexes_size and pg_relation_size open every relation and stat each of its files, and the
// bloat estimate reads pg_stats. At 50,000 tables one statement over all of them ran for seconds
// and hit the statement timeout. So sizes are read in passes over the relations in OID order, a
// batch of OIDs per statement, each batch sized to stay far under the statement timeout:
// - a pass starts at most every PGVIGIL_SIZES_INTERVAL_SECONDS per database;
// - a poll spends at most a budget of time on batches, then serves what it has; the next poll
//   resumes after the last OID read (a batch cancelled by the statement timeout is retried smaller);
// - until a pass is complete, objects show their size from the previous pass (or none yet).
// Objects are keyed by OID, so a pass completes with objects dropped since forgotten.

export interface SizeBatchRow {
  /** The relation's OID; batches ask for OIDs above the last one read. */
  readonly relid: number;
}

export interface PassSettings {
  /** Milliseconds between the starts of two passes (PGVIGIL_SIZES_INTERVAL_SECONDS). */
  readonly intervalMs: number;
  /** The session's statement_timeout: one batch aims at an eighth of it and is cancelled at a quarter. */
  readonly statementTimeoutMs: number;
  /** Time one poll may spend on batches, per database. */
  readonly budgetMs: number;
}

/** What the last poll of a database did with its size pass, for the part self-metrics. */
export interface PassStatus {
  /** 1 when sizes shown are behind: a pass is overdue or a batch was cancelled; else 0. */
  readonly stale: number;
  /** Seconds since the start of the last complete pass; null before the first one completes. */
  readonly ageSeconds: number | null;
}

const FIRST_BATCH = 500;
const MAX_BATCH = 20_000;
const MIN_BATCH = 10;

interface DatabasePass<Sizes> {
  /** Sizes of the last complete pass. */
  done: Map<number, Sizes>;
  /** Sizes read so far in the running pass, or undefined between passes. */
  running: Map<number, Sizes> | undefined;
  /** Last OID read in the running pass. */
  cursor: number;
  startedAt: number;
  completedStartAt: number | undefined;
  batch: number;
  cancelled: boolean;
  lastPolledAt: number;
}

export class SizePasses<Sizes> {
  private readonly byDatabase = new Map<string, DatabasePass<Sizes>>();

  constructor(readonly settings: PassSettings) {}

  /**
   * Reads batches while a pass is due or running and the poll's budget lasts. readBatch gets the
   * OID to start after and the batch size, and returns rows in OID order.
   */
  async advance<Row extends SizeBatchRow>(
    datname: string,
    now: number,
    readBatch: (afterOid: number, limit: number) => Promise<Row[]>,
    pick: (row: Row) => Sizes,
    clock: () => number = () => performance.now(),
  ): Promise<void> {
    this.forgetUnpolled(now);
    let pass = this.byDatabase.get(datname);
    if (pass === undefined) {
      pass = {
        done: new Map(),
        running: undefined,
        cursor: 0,
        startedAt: now,
        completedStartAt: undefined,
        batch: FIRST_BATCH,
        cancelled: false,
        lastPolledAt: now,
      };
      this.byDatabase.set(datname, pass);
    }
    pass.lastPolledAt = now;
    pass.cancelled = false;
    if (pass.running === undefined) {
      if (pass.completedStartAt !== undefined && now - pass.completedStartAt < this.settings.intervalMs) return;
      pass.running = new Map();
      pass.cursor = 0;
      pass.startedAt = now;
    }
    const target = this.settings.statementTimeoutMs / 8;
    const deadline = clock() + this.settings.budgetMs;
    while (clock() < deadline) {
      const started = clock();
      let rows: Row[];
      try {
        rows = await readBatch(pass.cursor, pass.batch);
      } catch (err) {
        if (!isStatementTimeout(err)) throw err;
        // The batch was too large for the statement timeout: retry smaller on the next poll.
        pass.batch = Math.max(MIN_BATCH, Math.floor(pass.batch / 4));
        pass.cancelled = true;
        return;
      }
      const took = clock() - started;
      for (const row of rows) pass.running.set(row.relid, pick(row));
      if (rows.length < pass.batch) {
        pass.done = pass.running;
        pass.running = undefined;
        pass.completedStartAt = pass.startedAt;
        return;
      }
      pass.cursor = rows[rows.length - 1]!.relid;
      if (took < target / 2) pass.batch = Math.min(MAX_BATCH, pass.batch * 2);
      else if (took > target) pass.batch = Math.max(MIN_BATCH, Math.floor(pass.batch / 2));
    }
  }

  /** The newest size read of an object: this pass's if read already, else the last pass's. */
  lookup(datname: string, relid: number): Sizes | undefined {
    const pass = this.byDatabase.get(datname);
    return pass?.running?.get(relid) ?? pass?.done.get(relid);
  }

  /** Every object's newest size (for rollups over all objects, kept by the cap or not). */
  *all(datname: string): Iterable<Sizes> {
    const pass = this.byDatabase.get(datname);
    if (pass === undefined) return;
    for (const [relid, sizes] of pass.done) if (!pass.running?.has(relid)) yield sizes;
    if (pass.running !== undefined) yield* pass.running.values();
  }

  status(datname: string, now: number): PassStatus {
    const pass = this.byDatabase.get(datname);
    const completed = pass?.completedStartAt;
    const overdue = completed === undefined || now - completed > 2 * this.settings.intervalMs;
    return {
      stale: pass === undefined || pass.cancelled || overdue ? 1 : 0,
      ageSeconds: completed === undefined ? null : (now - completed) / 1000,
    };
  }

  /** A database not polled for three intervals (dropped, or no longer discovered) is forgotten. */
  private forgetUnpolled(now: number): void {
    for (const [name, pass] of this.byDatabase) {
      if (now - pass.lastPolledAt > 3 * Math.max(this.settings.intervalMs, 60_000)) this.byDatabase.delete(name);
    }
  }
}

/** Shared by the tables and indexes collectors: one variable, declared once for both. */
export const SIZES_INTERVAL_VARIABLE = {
  PGVIGIL_SIZES_INTERVAL_SECONDS: seconds(
    300,
    0,
    86400,
    'Per database: start a pass over table and index sizes and the bloat estimate at most this often ' +
      '(read in OID batches that each stay far under the statement timeout, resumed across polls; ' +
      '0: every poll); statistics keep their own interval',
  ),
};

/** Shared settings of the size passes, from the session limits of the configuration. */
export function passSettings(
  sizesIntervalSeconds: number,
  config: { PGVIGIL_STATEMENT_TIMEOUT_SECONDS: number; PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: number },
): PassSettings {
  return {
    intervalMs: sizesIntervalSeconds * 1000,
    statementTimeoutMs: config.PGVIGIL_STATEMENT_TIMEOUT_SECONDS * 1000,
    // Statistics and both collectors' batches must fit the collector timeout, with room to spare.
    budgetMs: Math.min(config.PGVIGIL_STATEMENT_TIMEOUT_SECONDS, config.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS / 3) * 1000,
  };
}

/**
 * Runs one batch in its own transaction with statement_timeout at a quarter of the session's, so
 * a batch that overruns is cancelled long before the session limit (and retried smaller).
 */
export async function inBatchTransaction<Row>(
  query: QueryFn,
  settings: PassSettings,
  run: () => Promise<Row[]>,
): Promise<Row[]> {
  await query('BEGIN');
  try {
    await query(`SET LOCAL statement_timeout = ${Math.max(1, Math.round(settings.statementTimeoutMs / 4))}`);
    const rows = await run();
    await query('COMMIT');
    return rows;
  } catch (err) {
    await query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
