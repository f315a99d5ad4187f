// `pgvigil/pool`, kept for applications that import it from the exporter's package: the
// instrumentation itself is the pgvigil-pool package (packages/pool), which installs without the
// exporter's server dependencies.
export * from 'pgvigil-pool';
