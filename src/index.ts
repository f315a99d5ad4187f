// The library entry point (`import ... from 'pgvigil'`): run pgvigil inside another Node
// process, as the demo and the tests do, instead of as the `pgvigil` command. The application
// side of connection pools is the other entry point, `pgvigil/pool`.

export { createLogger } from './logger.js';
export { createPgvigil, type Pgvigil } from './pgvigil.js';
export { type Config, ConfigError, loadConfig } from './pgvigil-config.js';
