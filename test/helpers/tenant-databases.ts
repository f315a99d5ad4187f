import type { ParsedMetrics } from './metrics.js';
import type { TestPostgres } from './postgres.js';

// Tenant databases for the tests that create and drop them under pgvigil.

/** Names of pgvigil's series labelled with a datname matching `datname` (an OID as datname too). */
export function seriesOf(m: ParsedMetrics, datname: RegExp): string[] {
  return m.samples.filter((s) => s.labels.datname !== undefined && datname.test(s.labels.datname)).map((s) => s.name);
}

/** Creates database `name` with one table (and its primary key index) holding a row. */
export async function createTenant(pg: TestPostgres, name: string): Promise<void> {
  await pg.sql(`CREATE DATABASE ${name}`);
  await pg.sql('CREATE TABLE tenant_items (id int PRIMARY KEY, v text)', undefined, name);
  await pg.sql(`INSERT INTO tenant_items VALUES (1, 'a')`, undefined, name);
}
