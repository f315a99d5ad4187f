import { rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { eventually } from '../helpers/pgvigil.js';
import type { TestPostgres } from '../helpers/postgres.js';

// The schema of the end-to-end test and the real faults it makes. A fault starts when its
// function resolves and ends when the returned undo() resolves.

export type Undo = () => Promise<void>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `step` again and again until stopped; single failures are expected (that is the fault). */
export function loop(step: () => Promise<unknown>): { stop(): Promise<void> } {
  let running = true;
  const done = (async () => {
    while (running) {
      await step().catch(() => undefined);
      await sleep(20);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
    },
  };
}

/**
 * Database shop (owned by role app) with conditions that stand until repaired: an invalid index
 * (failed CREATE UNIQUE INDEX CONCURRENTLY), unused and duplicate indexes, dead tuples autovacuum
 * will not clean, a replication slot nobody consumes. Database cold holds an index far larger
 * than the test's shared_buffers.
 */
export async function setUpSchema(db: TestPostgres): Promise<void> {
  await db.sql('CREATE ROLE app LOGIN');
  await db.sql('CREATE DATABASE shop OWNER app');
  await db.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  await db.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements', [], 'shop');
  await db.sql(
    `CREATE TABLE orders (id int PRIMARY KEY, customer int NOT NULL, note text);
     INSERT INTO orders SELECT i, i % 500, 'note ' || i FROM generate_series(1, 5000) i;
     CREATE INDEX orders_customer_idx ON orders (customer);
     CREATE INDEX orders_customer_copy_idx ON orders (customer);
     CREATE INDEX orders_note_idx ON orders (note);
     CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, payload text);
     INSERT INTO events (kind, payload) SELECT 'k' || (i % 10), repeat('x', 100) FROM generate_series(1, 5000) i;
     CREATE TABLE stock (id int PRIMARY KEY, n int NOT NULL);
     INSERT INTO stock SELECT i, 0 FROM generate_series(1, 10) i;
     CREATE TABLE churn (id int PRIMARY KEY, n int NOT NULL) WITH (autovacuum_enabled = false);
     INSERT INTO churn SELECT i, 0 FROM generate_series(1, 5000) i;
     GRANT ALL ON ALL TABLES IN SCHEMA public TO app;
     GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO app;
     ANALYZE;`,
    [],
    'shop',
  );
  await db
    .sql('CREATE UNIQUE INDEX CONCURRENTLY orders_customer_uniq ON orders (customer)', [], 'shop')
    .catch(() => undefined);
  await db.sql('UPDATE churn SET n = n + 1', [], 'shop');
  await db.sql(`SELECT pg_create_physical_replication_slot('abandoned', true)`);
  await db.sql('CREATE DATABASE cold');
  await db.sql(
    'CREATE TABLE big (id int PRIMARY KEY, v int); ' +
      'INSERT INTO big SELECT i, i FROM generate_series(1, 200000) i; ANALYZE big',
    [],
    'cold',
  );
}

/** Repairs what setUpSchema left standing. */
export async function repairSchema(db: TestPostgres): Promise<void> {
  await db.sql('DROP INDEX CONCURRENTLY orders_customer_uniq', [], 'shop');
  await db.sql('DROP INDEX orders_customer_idx, orders_customer_copy_idx, orders_note_idx', [], 'shop');
  await db.sql('VACUUM churn', [], 'shop');
  await db.sql(`SELECT pg_drop_replication_slot('abandoned')`);
}

/** A transaction holds a row lock and goes idle; another session waits for it. */
export async function holdLock(db: TestPostgres): Promise<Undo> {
  const holder = await db.client('shop', { application_name: 'e2e-holder' });
  await holder.query('BEGIN');
  await holder.query('UPDATE stock SET n = n + 1 WHERE id = 1');
  const waiter = await db.client('shop', { application_name: 'e2e-waiter' });
  const blocked = waiter.query('UPDATE stock SET n = n + 1 WHERE id = 1').catch(() => undefined);
  return async () => {
    await holder.query('COMMIT');
    await blocked;
    await holder.end();
    await waiter.end();
  };
}

/**
 * Four sessions run a statement of class checkout (it calls pg_sleep) far over its objective: about 20 slow calls
 * a second.
 */
export async function slowClassedStatements(db: TestPostgres): Promise<Undo> {
  const slow = new pg.Pool({ connectionString: db.urlFor('shop'), max: 4, application_name: 'e2e-slow' });
  const workers = Array.from({ length: 4 }, () =>
    loop(() => slow.query('SELECT pg_sleep(0.2), count(*) FROM orders WHERE id = $1', [1])),
  );
  return async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await slow.end();
  };
}

/** Fills the volume until 3 % of it is left. */
export async function fillVolume(volume: string): Promise<Undo> {
  const s = statfsSync(volume);
  const fill = join(volume, 'fill');
  writeFileSync(fill, Buffer.alloc(Math.max(0, s.bavail * s.bsize - Math.floor(0.03 * s.blocks * s.bsize))));
  return async () => rmSync(fill);
}

/** Random primary-key lookups on cold.big, whose index does not fit in shared_buffers. */
export async function coldLookups(db: TestPostgres): Promise<Undo> {
  const cold = new pg.Pool({ connectionString: db.urlFor('cold'), max: 2, application_name: 'e2e-cold' });
  const readers = Array.from({ length: 2 }, () =>
    loop(() => cold.query('SELECT v FROM big WHERE id = $1', [1 + Math.floor(Math.random() * 200000)])),
  );
  return async () => {
    await Promise.all(readers.map((r) => r.stop()));
    await cold.end();
  };
}

/** Two transactions lock rows in opposite order; resolves with the error PostgreSQL gave one of them. */
export async function deadlock(db: TestPostgres): Promise<{ error: Error | undefined; undo: Undo }> {
  const [a, b] = [await db.client('shop'), await db.client('shop')];
  await a.query('BEGIN');
  await b.query('BEGIN');
  await a.query('UPDATE stock SET n = n + 1 WHERE id = 2');
  await b.query('UPDATE stock SET n = n + 1 WHERE id = 3');
  const results = await Promise.all([
    a.query('UPDATE stock SET n = n + 1 WHERE id = 3').catch((e: Error) => e),
    b.query('UPDATE stock SET n = n + 1 WHERE id = 2').catch((e: Error) => e),
  ]);
  await a.query('ROLLBACK');
  await b.query('ROLLBACK');
  const error = results.find((r): r is Error => r instanceof Error);
  return {
    error,
    undo: async () => {
      await a.end();
      await b.end();
    },
  };
}

/** The standby stops replaying while the primary writes a few MB of WAL. */
export async function pauseReplay(primary: TestPostgres, standbyUrl: string): Promise<Undo> {
  const s = new pg.Client({ connectionString: standbyUrl });
  await s.connect();
  await s.query('SELECT pg_wal_replay_pause()');
  await primary.sql(
    `INSERT INTO events (kind, payload) SELECT 'bulk', repeat('y', 200) FROM generate_series(1, 20000)`,
    [],
    'shop',
  );
  return async () => {
    await s.query('SELECT pg_wal_replay_resume()');
    await s.end();
  };
}

/** Every connection of the application's pool checked out, and more requests that time out. */
export async function exhaustPool(pool: pg.Pool, size: number): Promise<Undo> {
  // The workload shares the pool: take every connection as it frees up.
  const held: pg.PoolClient[] = [];
  while (held.length < size)
    held.push(
      ...(await pool.connect().then(
        (c) => [c],
        () => [],
      )),
    );
  const timeouts = loop(() => pool.query('SELECT 1'));
  return async () => {
    await timeouts.stop();
    for (const c of held) c.release();
  };
}

/** Clients hold every server connection of a PgBouncer pool in open transactions; three more wait. */
export async function holdPgbouncerPool(url: string, poolSize: number): Promise<Undo> {
  const holders = Array.from({ length: poolSize }, () => new pg.Client({ connectionString: url }));
  for (const h of holders) {
    await h.connect();
    await h.query('BEGIN');
    await h.query('SELECT 1');
  }
  const waiters = new pg.Pool({ connectionString: url, max: 3 });
  waiters.on('error', () => undefined);
  const waiting = Array.from({ length: 3 }, () => waiters.query('SELECT 1').catch(() => undefined));
  return async () => {
    for (const h of holders) {
      await h.query('COMMIT');
      await h.end();
    }
    await Promise.all(waiting);
    await waiters.end();
  };
}

/** Connections as role app until the server refuses one; resolves with how many and the refusal. */
export async function hogConnections(db: TestPostgres): Promise<{ held: number; refusal: string; undo: Undo }> {
  const held: pg.Client[] = [];
  let refusal = '';
  for (let n = 0; n < 100 && refusal === ''; n++) {
    const c = new pg.Client({ connectionString: db.urlFor('shop', 'app'), application_name: 'e2e-hog' });
    c.on('error', () => undefined);
    try {
      await c.connect();
      held.push(c);
    } catch (err) {
      refusal = (err as Error).message;
    }
  }
  return {
    held: held.length,
    refusal,
    undo: async () => void (await Promise.all(held.map((c) => c.end().catch(() => undefined)))),
  };
}

/** archive_command fails while the flag file exists; a WAL switch hands the archiver a segment at once. */
export async function failArchiving(db: TestPostgres, flag: string): Promise<Undo> {
  const switchWal = async () => {
    await db.sql(`INSERT INTO events (kind, payload) VALUES ('archive', 'x')`, [], 'shop');
    await db.sql('SELECT pg_switch_wal()');
  };
  writeFileSync(flag, '');
  await switchWal();
  return async () => {
    rmSync(flag);
    // The archiver waits up to a minute before retrying; a new segment wakes it.
    await switchWal();
  };
}

/** The standby's WAL receiver stops: primary_conninfo emptied and reloaded (13+), restored by undo. */
export async function disconnectStandby(standbyUrl: string): Promise<Undo> {
  const s = new pg.Client({ connectionString: standbyUrl });
  await s.connect();
  const { rows } = await s.query<{ primary_conninfo: string }>('SHOW primary_conninfo');
  const conninfo = rows[0]!.primary_conninfo;
  await s.query(`ALTER SYSTEM SET primary_conninfo = ''`);
  await s.query('SELECT pg_reload_conf()');
  return async () => {
    await s.query(`ALTER SYSTEM SET primary_conninfo = ${s.escapeLiteral(conninfo)}`);
    await s.query('SELECT pg_reload_conf()');
    await s.end();
  };
}

/**
 * A slot nobody consumes, past a max_slot_wal_keep_size of 1 MB: WAL switches make it fall
 * segments behind, and a checkpoint removes them, which invalidates the slot (wal_status lost).
 * The standby's own slot keeps up, and the checkpoint waits until it has.
 */
export async function loseSlot(db: TestPostgres, slot: string, standbySlot: string): Promise<Undo> {
  await db.sql(`ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'`);
  await db.sql('SELECT pg_reload_conf()');
  await db.sql('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
  const statusOf = async (name: string) =>
    (
      await db.sql<{ wal_status: string }>('SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1', [name])
    )[0]?.wal_status;
  for (let round = 0; round < 10 && (await statusOf(slot)) !== 'lost'; round++) {
    for (let i = 0; i < 3; i++) {
      await db.sql(`INSERT INTO events (kind, payload) VALUES ('slot', 'x')`, [], 'shop');
      await db.sql('SELECT pg_switch_wal()');
    }
    await eventually(
      async () =>
        (
          await db.sql<{ behind: number }>(
            'SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS behind ' +
              'FROM pg_replication_slots WHERE slot_name = $1',
            [standbySlot],
          )
        )[0]!.behind <
        512 * 1024,
      10_000,
      `standby slot ${standbySlot} caught up`,
    );
    await db.sql('CHECKPOINT');
  }
  return async () => {
    await db.sql('SELECT pg_drop_replication_slot($1)', [slot]);
    await db.sql('ALTER SYSTEM RESET max_slot_wal_keep_size');
    await db.sql('SELECT pg_reload_conf()');
  };
}
