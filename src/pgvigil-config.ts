import { collectorDefinitions } from './collectors/index.js';
import { type Config, composeConfigSchema, loadConfigFor } from './config.js';

// pgvigil's configuration as shipped: the process-wide variables (config.ts) composed with the
// variables every collector declares for itself. The one place that knows both, so config.ts
// never imports the collectors, and a collector's variables live next to its queries.

export { type Config, ConfigError } from './config.js';

/** Every variable pgvigil reads; the README's configuration table is generated from it. */
export const configSchema = composeConfigSchema(collectorDefinitions);

/** The configuration from the environment; throws ConfigError naming every bad variable. */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  return loadConfigFor(collectorDefinitions, env, configSchema);
}
