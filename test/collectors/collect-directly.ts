import type pg from 'pg';
import type { CollectorDefinition, QueryFn } from '../../src/collectors/types.js';
import type { Family } from '../../src/exposition/families.js';
import { createLogger } from '../../src/logger.js';
import { loadConfig } from '../../src/pgvigil-config.js';
import { readServerFacts } from '../../src/server-facts.js';

// Runs one collector on a connection the test controls (its session settings, its role), for
// what cannot be arranged through pgvigil's own pool. Everything else goes through startPgvigil.

export async function collectDirectly(
  client: pg.Client,
  def: CollectorDefinition,
  options: { env?: Record<string, string>; query?: QueryFn } = {},
): Promise<{ families: Family[]; logs: string }> {
  const config = loadConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/postgres', ...options.env });
  let logs = '';
  const log = createLogger('debug', {
    write: (chunk: string) => {
      logs += chunk;
    },
  });
  const query: QueryFn = options.query ?? (async (sql, params) => (await client.query(sql, params)).rows);
  const facts = await readServerFacts(client);
  const families = await def
    .create(config, log)
    .collect({ query, facts, datname: facts.datname, log, now: Date.now() });
  return { families, logs };
}

/** Value of the one sample of `name` whose labels include `labels`; undefined when there is none. */
export function sampleValue(
  families: readonly Family[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  const family = families.find((f) => f.name === name);
  if (family === undefined || family.type === 'histogram') return undefined;
  const found = family.samples.filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
