export * from './pool-instrumentation.js';
