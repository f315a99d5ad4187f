import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { createMonitoringRole } from './monitoring-role.js';
import { eventually, startPgvigil, type TestPgvigil } from './pgvigil.js';
import type { TestPostgres } from './postgres.js';

// The wait tests' common ground: database shop with one row in stock, pgvigil as the pg_monitor
// role with a query class stock_update for statements on stock, and a session "waiter" whose
// UPDATE of that row the statements collector has seen and classified, so a later wait of the
// same statement is attributed to the class.

const CLASSES = 'classes:\n  - name: stock_update\n    objective_seconds: 0.05\n    match:\n      tables: [stock]\n';

export const STOCK_UPDATE = 'UPDATE stock SET n = n + 1 WHERE id = 1';

export async function classifiedStockUpdate(
  t: Parameters<typeof startPgvigil>[0],
  pg: TestPostgres,
): Promise<{ exporter: TestPgvigil; waiter: pg.Client }> {
  await pg.sql('CREATE DATABASE shop');
  await pg.sql('CREATE TABLE stock (id int primary key, n int); INSERT INTO stock VALUES (1, 1)', [], 'shop');
  await createMonitoringRole(pg, 'pgvigil', 'secret-pw');
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-stock-'));
  writeFileSync(join(dir, 'classes.yml'), CLASSES);
  const exporter = await startPgvigil(t, pg.urlFor('postgres', 'pgvigil', 'secret-pw'), {
    PGVIGIL_QUERY_CLASSES_FILE: join(dir, 'classes.yml'),
  });
  const waiter = await pg.client('shop', { application_name: 'waiter' });
  await waiter.query(STOCK_UPDATE);
  await eventually(
    async () => {
      await exporter.poll('statements');
      const api = JSON.parse((await exporter.pgvigil.app.inject({ url: '/api/statements' })).body);
      return api.statements.some((s: { class: string }) => s.class === 'stock_update');
    },
    15_000,
    'the UPDATE classified as stock_update',
  );
  return { exporter, waiter };
}
