import type pg from 'pg';
import client from 'prom-client';
import { classify, OTHER_CLASS, type QueryClass } from '../../src/statements/classes.js';
import { bucketBounds } from '../../src/statements/histogram.js';

// A stand-in for the application-side query timing of pgvigil/pool while that package is built
// elsewhere: the same family and label names (pgvigil_client_query_duration_seconds with
// application_name, pool, class), the class objectives as bucket bounds, classes from the same
// file and matcher. Only what the SLO rules and board read; promise-form pool.query only.

/** Times every `pool.query(text, values)` into a histogram per query class. */
export function timeQueries(
  pool: pg.Pool,
  options: {
    registry: client.Registry;
    classes: readonly QueryClass[];
    applicationName: string;
    pool: string;
    datname: string;
    usename: string;
  },
): void {
  const histogram = new client.Histogram({
    name: 'pgvigil_client_query_duration_seconds',
    help: 'Duration of each query the application ran, per query class (exact, timed in the application).',
    labelNames: ['application_name', 'pool', 'class'],
    // The exporter's class histogram bounds: base bounds, the objectives, the 0.1 s slow-query threshold.
    buckets: bucketBounds([...options.classes.map((c) => c.objectiveSeconds), 0.1]),
    registers: [options.registry],
  });
  const query = pool.query.bind(pool) as (text: string, values?: unknown[]) => Promise<pg.QueryResult>;
  (pool as unknown as { query: typeof query }).query = async (text: string, values?: unknown[]) => {
    const identity = { text, datname: options.datname, usename: options.usename };
    const cls = classify(options.classes, identity)?.name ?? OTHER_CLASS;
    const end = histogram.startTimer({ application_name: options.applicationName, pool: options.pool, class: cls });
    try {
      return await query(text, values);
    } finally {
      end();
    }
  };
}
