import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import client from 'prom-client';
import { LocalPgbouncer, pgbouncerAvailable } from '../../src/dev/pgbouncer.js';
import { instrumentPool } from '../../src/pool-instrumentation.js';
import { eventually, startPgvigil } from './pgvigil.js';
import { testPostgres } from './postgres.js';
import { createStandby } from './standby.js';

// The families pgvigil really emits, for the mixin lint: a throwaway primary with a bit of
// everything (tables, indexes, statements in a query class, a client pool), a streaming standby
// (standby-only families), PgBouncer when installed, and the application-side pool
// instrumentation (pgvigil/pool) on a real node-postgres Pool. Every collector runs (poll()).

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface EmittedFamilies {
  /** Family name → type, as /metrics and the pool registry declare them. */
  readonly types: Map<string, string>;
  /** Where each family was seen (primary, standby, pgbouncer, client pool). */
  readonly seenOn: Map<string, string>;
  /** Label names seen on each family's samples (le excluded). */
  readonly labels: Map<string, Set<string>>;
  /** HELP text of each family. */
  readonly help: Map<string, string>;
  /** The collector that owns each family ('self' for pgvigil's own, 'pgvigil/pool' for the instrumentation). */
  readonly owners: Map<string, string>;
  /** Every /metrics text served (primary, standby) and the pool registry's, for promtool. */
  readonly texts: string[];
  readonly pgbouncer: boolean;
}

export async function emittedFamilies(t: Teardown): Promise<EmittedFamilies> {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-families-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const classes = join(dir, 'classes.yml');
  writeFileSync(
    classes,
    'classes:\n  - name: lookup\n    objective_seconds: 0.05\n    match:\n      tables: [items]\n',
  );

  const primary = await testPostgres(t, { needsControl: true });
  await primary.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await primary.sql(`CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, note text);
                     CREATE INDEX items_name_idx ON items (name);
                     CREATE INDEX items_note_idx ON items (note);
                     CREATE INDEX items_name_copy_idx ON items (name);
                     INSERT INTO items SELECT i, 'item ' || i, NULL FROM generate_series(1, 2000) i;
                     ANALYZE items;`);
  // Index findings need rows to have labels: an invalid index (a failed concurrent build) and
  // sequential scans of the whole table.
  await primary.sql('CREATE UNIQUE INDEX CONCURRENTLY items_bad_uniq ON items ((id % 10))').catch(() => undefined);
  for (let i = 0; i < 3; i++) await primary.sql('SELECT count(*) FROM items WHERE note IS NULL');
  const standby = await createStandby(t, primary);

  let bouncer: LocalPgbouncer | undefined;
  if (pgbouncerAvailable()) {
    bouncer = await LocalPgbouncer.start({ postgresPort: primary.cluster!.port });
    const b = bouncer;
    t.teardown(() => b.destroy());
  }
  const env = {
    PGVIGIL_DATA_VOLUME_PATH: dir,
    PGVIGIL_QUERY_CLASSES_FILE: classes,
    PGVIGIL_EXPECTED_POOL_SIZES: 'families-app=4',
    PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES: '0',
    PGVIGIL_SEQ_SCAN_MIN_SCANS: '1',
    PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN: '10',
    ...(bouncer !== undefined ? { PGVIGIL_PGBOUNCER_URL: bouncer.adminUrl } : {}),
  };
  const onPrimary = await startPgvigil(t, primary.url, env);
  const onStandby = await startPgvigil(t, standby.url, { PGVIGIL_DATA_VOLUME_PATH: dir });

  // The application side: a real pool, instrumented, used once.
  const registry = new client.Registry();
  const pool = new pg.Pool({ connectionString: primary.url, application_name: 'families-app', max: 2 });
  t.teardown(() => pool.end());
  instrumentPool(pool, { registry, name: 'main' });

  await onPrimary.poll();
  await onStandby.poll();
  for (let i = 0; i < 20; i++) await pool.query('SELECT name FROM items WHERE id = $1', [i]);
  const held = await pool.connect();
  // A session waiting for a lock, so the lock families have samples too.
  const holder = await primary.client();
  await holder.query('BEGIN');
  await holder.query('UPDATE items SET note = $1 WHERE id = 1', ['held']);
  const waiter = await primary.client();
  const waiting = waiter.query('UPDATE items SET note = $1 WHERE id = 1', ['waiting']).catch(() => undefined);
  await eventually(
    async () =>
      (await primary.sql<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE NOT granted`))[0]!.n > 0,
    10_000,
    'a lock wait',
  );
  const seenOn = new Map<string, string>();
  const types = new Map<string, string>();
  const labels = new Map<string, Set<string>>();
  const help = new Map<string, string>();
  const owners = new Map<string, string>();
  const texts: string[] = [];
  const add = (where: string, found: Iterable<[string, string]>, samples: { name: string; labels: object }[]) => {
    for (const [name, type] of found) {
      if (!types.has(name)) seenOn.set(name, where);
      types.set(name, type);
      if (!labels.has(name)) labels.set(name, new Set());
    }
    for (const sample of samples) {
      const family = labels.get(sample.name) ?? labels.get(sample.name.replace(/_(bucket|sum|count)$/, ''));
      for (const l of Object.keys(sample.labels)) if (l !== 'le') family?.add(l);
    }
  };
  for (const [where, exporter] of [
    ['primary', onPrimary],
    ['standby', onStandby],
  ] as const) {
    const m = await exporter.poll();
    add(where, m.types, m.samples);
    for (const [name, text] of m.help) help.set(name, text);
    for (const [name, collector] of exporter.pgvigil.snapshots.familyOwners()) owners.set(name, collector);
    texts.push(await exporter.text());
  }
  const pools = await registry.getMetricsAsJSON();
  for (const m of pools) {
    help.set(m.name, m.help);
    owners.set(m.name, 'pgvigil/pool');
  }
  texts.push(await registry.metrics());
  add(
    'client pool',
    pools.map((m) => [m.name, String(m.type)] as [string, string]),
    pools.flatMap((m) => m.values.map((v) => ({ name: m.name, labels: v.labels }))),
  );
  held.release();
  await holder.query('COMMIT');
  await waiting;
  for (const name of types.keys()) if (!owners.has(name)) owners.set(name, 'self');
  return { types, seenOn, labels, help, owners, texts, pgbouncer: bouncer !== undefined };
}
