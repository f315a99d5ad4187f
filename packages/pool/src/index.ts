// pgvigil-pool: the application's side of pgvigil. Pool and per-query metrics for node-postgres,
// with the exporter's query classes, bucket bounds and redactor, so app-side (exact) and
// server-side (estimated) latency of one class can be put side by side.

export { BASE_BOUNDS, bucketBounds } from './buckets.js';
export { classify, loadQueryClasses, OTHER_CLASS, parseQueryClasses, type QueryClass } from './classes.js';
export * from './pool-instrumentation.js';
export { type QueryErrorKind, queryErrorKind } from './query-errors.js';
export type { QueryableClient } from './query-timing.js';
export { redactSql } from './redact.js';
export type { QueryLogger } from './slow-query-log.js';
