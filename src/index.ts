// The library entry point (`import ... from 'pgvigil'`): run pgvigil inside another Node
// process, as the demo and the tests do, instead of as the `pgvigil` command. The application
// side of connection pools is the other entry point, `pgvigil/pool`.
export { createPgvigil, type Pgvigil } from './pgvigil.js';
export { ConfigError, loadConfig, type Config } from './pgvigil-config.js';
export { createLogger } from './logger.js';
