import { collectorDefinitions } from '../src/collectors/index.js';
import { intervalVariable } from '../src/config.js';
import { delta, type StatementEntry, snapshot, totalMs } from './db-time.js';
import { type Exporter, startPgvigil } from './exporters.js';
import { type Fixture, ROLES } from './fixture.js';
import { prometheusScrape, seriesCount } from './http.js';

// What one full pgvigil poll costs: every collector on the same interval, two polls measured
// after a warm-up poll, divided by two. pgvigil's own self-metrics say how many runs happened.

export interface CollectorRuns {
  readonly count: Map<string, number>;
  readonly seconds: Map<string, number>;
  /** Failed runs so far, all collectors and reasons (pg_stat_statements never sees a cancelled query). */
  readonly errors: number;
}

/** pgvigil_collector_duration_seconds _count and _sum per collector, from an exposition. */
export function collectorRuns(body: string): CollectorRuns {
  const count = new Map<string, number>();
  const seconds = new Map<string, number>();
  for (const m of body.matchAll(/^pgvigil_collector_duration_seconds_(count|sum)\{collector="([^"]+)"\} (\S+)$/gm)) {
    (m[1] === 'count' ? count : seconds).set(m[2]!, Number(m[3]));
  }
  let errors = 0;
  for (const m of body.matchAll(/^pgvigil_collector_errors_total\{[^}]*\} (\S+)$/gm)) errors += Number(m[1]);
  return { count, seconds, errors };
}

/** Waits until every enabled collector has run at least `runs` times; returns the exposition then. */
export async function waitForRuns(exporter: Exporter, runs: number, timeoutMs = 180_000): Promise<string> {
  const expected = collectorDefinitions.length;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await prometheusScrape(exporter.url)).body;
    const { count } = collectorRuns(body);
    const disabled = [...body.matchAll(/^pgvigil_collector_enabled\{collector="([^"]+)"\} 0$/gm)].map((m) => m[1]);
    const pending = collectorDefinitions.filter((d) => !disabled.includes(d.name) && (count.get(d.name) ?? 0) < runs);
    if (count.size > 0 && pending.length === 0) return body;
    if (count.size >= expected && pending.length === 0) return body;
    if (Date.now() > deadline) {
      throw new Error(
        `collectors ${pending.map((d) => d.name).join(', ')} did not run ${runs} times in ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface PollCost {
  /** Database time of one full poll (all collectors, all databases), ms. */
  readonly dbMs: number;
  /** Sum of the collectors' run durations for one poll, ms (wall time if they ran one after another). */
  readonly wallMs: number;
  readonly series: number;
  readonly entries: StatementEntry[];
  readonly perCollectorMs: Map<string, number>;
  /** Collector runs that failed during the measured polls (their time is missing from dbMs). */
  readonly failures: number;
}

export async function measurePoll(fixture: Fixture, intervalSeconds = 15): Promise<PollCost> {
  const env: Record<string, string> = {};
  for (const d of collectorDefinitions) env[intervalVariable(d.name)] = String(intervalSeconds);
  // A full poll reads sizes too (in normal running they are read every PGVIGIL_SIZES_INTERVAL_SECONDS).
  env.PGVIGIL_SIZES_INTERVAL_SECONDS = String(intervalSeconds);
  const vigil = await startPgvigil(fixture.url(ROLES.pgvigil), env);
  try {
    await waitForRuns(vigil, 1);
    // The first poll fills caches (connections, catalog caches, statement texts): measure the next ones.
    const firstBody = await waitForRuns(vigil, 2);
    const before = collectorRuns(firstBody);
    const snapBefore = await snapshot(fixture, ROLES.pgvigil);
    const target = Math.min(...before.count.values()) + 2;
    const body = await waitForRuns(vigil, target);
    const snapAfter = await snapshot(fixture, ROLES.pgvigil);
    const after = collectorRuns(body);
    const perCollectorMs = new Map<string, number>();
    let runs = Infinity;
    for (const [name, n] of after.count) {
      const dn = n - (before.count.get(name) ?? 0);
      runs = Math.min(runs, dn);
      if (dn > 0) perCollectorMs.set(name, ((after.seconds.get(name)! - (before.seconds.get(name) ?? 0)) / dn) * 1000);
    }
    const entries = delta(snapBefore, snapAfter);
    return {
      dbMs: totalMs(entries) / runs,
      wallMs: [...perCollectorMs.values()].reduce((s, v) => s + v, 0),
      series: seriesCount(body),
      entries: entries.map((e) => ({ ...e, ms: e.ms / runs, calls: e.calls / runs })),
      perCollectorMs,
      failures: after.errors - before.errors,
    };
  } finally {
    await vigil.stop();
  }
}
