// Statements of known latency shape for the latency-accuracy bench and its test. Each shape runs
// in its own database, so it is one pg_stat_statements entry and one query class (matched by
// database), and pgbench's per-transaction log of that database is the ground truth.

export interface LatencyShape {
  /** Database, query class and pgbench log prefix. */
  readonly name: string;
  readonly description: string;
  /** The class objective: the bench compares the share of calls within it. */
  readonly objectiveSeconds: number;
  /** One pgbench transaction: a single statement, so transaction latency is statement latency plus a round trip. */
  readonly script: string;
  /** Run once before the baseline poll: history the entry carries (its lifetime min/max) but the truth does not. */
  readonly before?: string;
}

export const LATENCY_SHAPES: readonly LatencyShape[] = [
  {
    name: 'bimodal',
    description: '90 % ~2 ms, 10 % ~120 ms',
    objectiveSeconds: 0.05,
    script: 'SELECT pg_sleep(CASE WHEN random() < 0.9 THEN 0.002 ELSE 0.12 END);',
  },
  {
    // The same statement (one entry: constants are normalized) after one 1 s call long ago: the
    // lifetime max stays at 1 s; PGVIGIL_STATEMENTS_MINMAX_RESET gives each interval its own.
    name: 'bimodal_stale_max',
    description: 'bimodal after one 1 s call before the run',
    objectiveSeconds: 0.05,
    script: 'SELECT pg_sleep(CASE WHEN random() < 0.9 THEN 0.002 ELSE 0.12 END);',
    // Constants of the same types as the script's (numeric), or it would be an entry of its own.
    before: 'SELECT pg_sleep(CASE WHEN random() < 0.0 THEN 0.002 ELSE 1.0 END)',
  },
  {
    name: 'uniform',
    description: 'uniform 5..55 ms',
    objectiveSeconds: 0.05,
    script: 'SELECT pg_sleep(0.005 + random() * 0.05);',
  },
  {
    // Box-Muller on random(): random_normal() exists only from PostgreSQL 16.
    name: 'lognormal',
    description: 'log-normal, median 10 ms, sigma 0.6',
    objectiveSeconds: 0.025,
    script: 'SELECT pg_sleep(0.01 * exp(0.6 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())));',
  },
  {
    name: 'constant',
    description: '20 ms every call',
    objectiveSeconds: 0.025,
    script: 'SELECT pg_sleep(0.02);',
  },
];

/** A classes file with one class per shape, matched by the shape's database. */
export function shapeClassesYaml(shapes: readonly LatencyShape[]): string {
  const classes = shapes.map(
    (s) =>
      `  - name: ${s.name}\n    objective_seconds: ${s.objectiveSeconds}\n` +
      `    match:\n      databases: [${s.name}]\n`,
  );
  return `classes:\n${classes.join('')}`;
}
