import pg from 'pg';
import { LocalCluster } from '../src/dev/local-cluster.js';

// The benchmark fixture: a throwaway PostgreSQL with the demo schema at scale, many extra
// tables and indexes, thousands of distinct statements in pg_stat_statements and a crowd of
// idle connections. `scale` multiplies tables, indexes and statements; the demo data rows stay
// the same (they make the tables real, they do not change what an exporter reads).

export interface FixtureOptions {
  /** Multiplies extra tables, their indexes and the statements (1 = 2000 tables, 6000 indexes, ~4000 statements). */
  scale?: number;
  /** Extra tables at scale 1 (default 2000). */
  tables?: number;
  /** Distinct statements run at build time (default 2 per extra table: ~4000 at scale 1). */
  statements?: number;
  /** pg_stat_statements.max (default 1.5 × statements, at least 10000); lower it to force deallocation churn. */
  statementsMax?: number;
  /** Idle application connections held open (default 200). */
  idleConnections?: number;
  /** Demo data rows: users (default 100k); workshop steps are 10 per user, assessments 3 per user. */
  users?: number;
  log?: (line: string) => void;
}

export const ROLES = { app: 'bench_app', pgvigil: 'pgvigil_bench', peer: 'peer_bench', floor: 'floor_bench' } as const;
export const DATABASE = 'demo';

export interface Fixture {
  readonly cluster: LocalCluster;
  readonly tables: number;
  readonly indexes: number;
  readonly statements: number;
  /** URL of the demo database as `role`. */
  url(role: string, database?: string): string;
  /** Runs SQL as the superuser. */
  sql<Row extends object = Record<string, unknown>>(
    text: string,
    params?: unknown[],
    database?: string,
  ): Promise<Row[]>;
  /** Runs `count` more distinct statements as the application (new queryids from `offset` on). */
  runStatements(count: number, offset: number): Promise<void>;
  close(): Promise<void>;
}

const SCHEMA_SQL = (users: number) => `
CREATE TABLE users (
  id bigint PRIMARY KEY, username text NOT NULL, email text NOT NULL, password_hash text NOT NULL,
  navigation_progress jsonb, created_at timestamptz NOT NULL, last_login_at timestamptz);
INSERT INTO users
SELECT g, 'user' || g, 'user' || g || '@example.com', md5(g::text),
       jsonb_build_object('workshop', g % 40, 'step', g % 12, 'done', g % 3 = 0),
       now() - (g % 1000) * interval '1 hour', now() - (g % 100) * interval '1 minute'
FROM generate_series(1, ${users}) g;
CREATE UNIQUE INDEX users_email ON users (email);
CREATE INDEX users_last_login_at ON users (last_login_at);

CREATE TABLE workshop_step_data (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, workshop_id int NOT NULL, step_id int NOT NULL,
  data jsonb, updated_at timestamptz NOT NULL);
INSERT INTO workshop_step_data
SELECT g, 1 + g % ${users}, g % 40, g % 12, jsonb_build_object('answer', g % 7, 'ok', g % 5 <> 0),
       now() - (g % 5000) * interval '1 minute'
FROM generate_series(1, ${users * 10}) g;
CREATE INDEX workshop_step_data_user ON workshop_step_data (user_id, workshop_id);

CREATE TABLE user_assessments (
  id bigint PRIMARY KEY, user_id bigint NOT NULL, assessment_type text NOT NULL, score numeric(5,2),
  completed_at timestamptz);
INSERT INTO user_assessments
SELECT g, 1 + g % ${users}, (ARRAY['quiz','exam','survey'])[1 + g % 3], (g % 10000) / 100.0,
       now() - (g % 3000) * interval '1 hour'
FROM generate_series(1, ${users * 3}) g;
CREATE INDEX user_assessments_user ON user_assessments (user_id);

ALTER TABLE workshop_step_data ADD FOREIGN KEY (user_id) REFERENCES users;
ALTER TABLE user_assessments ADD FOREIGN KEY (user_id) REFERENCES users;
CREATE SCHEMA extra;`;

/** Creates tables [from, to) in one transaction each chunk: 3 indexes per table (primary key + 2). */
const TABLES_SQL = (from: number, to: number) => `
DO $$
BEGIN
  FOR i IN ${from}..${to - 1} LOOP
    EXECUTE format('CREATE TABLE extra.t%s (id int PRIMARY KEY, a int, b text)', i);
    EXECUTE format('CREATE INDEX t%s_a ON extra.t%s (a)', i, i);
    EXECUTE format('CREATE INDEX t%s_b ON extra.t%s (b)', i, i);
  END LOOP;
END $$;`;

/**
 * Statement number n as a distinct query shape. Literal variations normalize to the same queryid,
 * so shapes differ by table and by the length of an IN list (each length is its own queryid up to
 * PostgreSQL 17).
 */
export function statementText(n: number, tables: number): string {
  const table = n % tables;
  const shape = Math.floor(n / tables);
  if (shape === 0) return `SELECT count(*) FROM extra.t${table} WHERE a = ${n}`;
  if (shape === 1) return `SELECT b FROM extra.t${table} WHERE id = ${n}`;
  const list = Array.from({ length: shape - 1 }, (_, i) => String(i + 1)).join(',');
  return `SELECT id FROM extra.t${table} WHERE a IN (${list})`;
}

export async function buildFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const scale = options.scale ?? 1;
  const tables = Math.round((options.tables ?? 2000) * scale);
  const statements = options.statements ?? tables * 2;
  const users = options.users ?? 100_000;
  const idle = options.idleConnections ?? 200;
  const say = options.log ?? (() => undefined);
  const started = Date.now();

  const cluster = await LocalCluster.create({
    settings: {
      max_connections: idle + 100,
      'pg_stat_statements.max': options.statementsMax ?? Math.max(10_000, Math.ceil(statements * 1.5)),
      // One transaction creates hundreds of tables.
      max_locks_per_transaction: 1024,
      shared_buffers: "'256MB'",
      maintenance_work_mem: "'256MB'",
      checkpoint_timeout: "'30min'",
      max_wal_size: "'4GB'",
      autovacuum: 'off',
    },
  });
  const clients: pg.Client[] = [];
  const connect = async (role: string, database: string, applicationName = 'bench') => {
    const c = new pg.Client({ connectionString: cluster.url(database, role), application_name: applicationName });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  };
  const admin = await connect('postgres', 'postgres');
  const roles = Object.values(ROLES);
  for (const role of roles) await admin.query(`CREATE ROLE ${role} LOGIN`);
  await admin.query(`GRANT pg_monitor TO ${ROLES.pgvigil}, ${ROLES.peer}, ${ROLES.floor}`);
  await admin.query(`CREATE DATABASE ${DATABASE} OWNER ${ROLES.app}`);
  const demoAdmin = await connect('postgres', DATABASE);
  await demoAdmin.query('CREATE EXTENSION pg_stat_statements');
  await admin.query('CREATE EXTENSION pg_stat_statements');

  const app = await connect(ROLES.app, DATABASE, 'bench-app');
  await app.query(SCHEMA_SQL(users));
  say(`demo schema with ${users} users in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  for (let from = 0; from < tables; from += 500) await app.query(TABLES_SQL(from, Math.min(tables, from + 500)));
  await demoAdmin.query('VACUUM ANALYZE');
  say(`${tables} extra tables, ${tables * 3} indexes in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  const runStatements = async (count: number, offset: number) => {
    for (let i = 0; i < count; i++) await app.query(statementText(offset + i, tables));
  };
  // With track=all every CREATE TABLE is an entry of its own: start the statement store afresh.
  await admin.query('SELECT pg_stat_statements_reset()');
  await runStatements(statements, 0);
  // A few of the application's own queries, so the demo tables have statement history too.
  for (let i = 0; i < 50; i++) {
    await app.query('SELECT username, navigation_progress FROM users WHERE id = $1', [1 + i * 997]);
    await app.query('SELECT step_id, data FROM workshop_step_data WHERE user_id = $1 AND workshop_id = $2', [
      1 + i,
      i % 40,
    ]);
    await app.query('SELECT avg(score) FROM user_assessments WHERE user_id = $1', [1 + i * 13]);
  }
  const [{ n } = { n: 0 }] = (await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_statements'))
    .rows;
  say(`${n} statements in pg_stat_statements`);

  for (let i = 0; i < idle; i += 20) {
    await Promise.all(Array.from({ length: Math.min(20, idle - i) }, () => connect(ROLES.app, DATABASE, 'bench-idle')));
  }
  say(`${idle} idle connections; fixture ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

  return {
    cluster,
    tables,
    indexes: tables * 3,
    statements: n,
    url: (role, database = DATABASE) => cluster.url(database, role),
    sql: async (text, params, database = 'postgres') =>
      (await (database === 'postgres' ? admin : demoAdmin).query(text, params)).rows as never,
    runStatements,
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await cluster.destroy();
    },
  };
}
