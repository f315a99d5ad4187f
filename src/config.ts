import { readFileSync } from 'node:fs';
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import envSchema from 'env-schema';
import type { ErrorObject } from 'ajv';
import type { ClientConfig } from 'pg';
import { collectorDefinitions } from './collectors/index.js';
import { loadQueryClasses, type QueryClass } from './statements/classes.js';
import { checkPgbouncerUrl, parseExpectedPoolSizes } from './pool-settings.js';

// One schema for every variable pgvigil reads. Connection variables keep libpq's names
// (DATABASE_URL, PGHOST ...) so existing deployments work unchanged; everything of our own
// is PGVIGIL_*. The README's configuration table is checked against this schema by a test.

const seconds = (def: number, min: number, max: number, description: string) =>
  Type.Number({ default: def, minimum: min, maximum: max, description });

const baseProperties = {
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1, description: 'libpq connection URI; overrides PG* variables' })),
  DATABASE_URL_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding DATABASE_URL (Kubernetes secret)' })),
  PGHOST: Type.Optional(Type.String({ minLength: 1, description: 'Server host or Unix socket directory' })),
  PGPORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Server port' })),
  PGUSER: Type.Optional(Type.String({ minLength: 1, description: 'Role to connect as (pg_monitor is enough)' })),
  PGPASSWORD: Type.Optional(Type.String({ description: 'Password' })),
  PGPASSWORD_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding the password' })),
  PGDATABASE: Type.Optional(Type.String({ minLength: 1, description: 'Database to connect to first (default: postgres)' })),
  PGSSLMODE: Type.Optional(
    Type.Union(['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'].map((m) => Type.Literal(m)), {
      description: 'TLS to PostgreSQL',
    }),
  ),
  PGSSLROOTCERT: Type.Optional(Type.String({ minLength: 1, description: 'CA file for verify-ca / verify-full' })),

  PGVIGIL_HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'Address the HTTP server listens on' }),
  PGVIGIL_PORT: Type.Integer({ default: 9630, minimum: 0, maximum: 65535, description: 'HTTP port (0 picks a free one)' }),
  PGVIGIL_LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' },
  ),
  PGVIGIL_HEAP_TRIM_MB: Type.Number({
    default: 4,
    minimum: 0,
    maximum: 4096,
    description:
      'When the poller goes idle after polls that grew the heap by this many MiB (and by a quarter), collect and compact it at once instead of 8 s or more later (needs node --expose-gc, as the entry point sets); 0: leave it to V8',
  }),
  PGVIGIL_POOL_SIZE: Type.Integer({ default: 2, minimum: 1, maximum: 20, description: 'Most connections pgvigil ever holds' }),
  PGVIGIL_CONNECT_TIMEOUT_SECONDS: seconds(5, 0.1, 120, 'Give up a connection attempt after this long'),
  PGVIGIL_STATEMENT_TIMEOUT_SECONDS: seconds(5, 0.1, 600, 'statement_timeout of pgvigil sessions'),
  PGVIGIL_LOCK_TIMEOUT_SECONDS: seconds(1, 0.01, 600, 'lock_timeout of pgvigil sessions (never queue behind DDL)'),
  PGVIGIL_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS: seconds(10, 1, 3600, 'idle_in_transaction_session_timeout of pgvigil sessions'),
  PGVIGIL_IDLE_CONNECTION_SECONDS: seconds(
    180,
    1,
    3600,
    'Close a pooled connection unused for this long; keep it above the table and index intervals so each database keeps a warm connection',
  ),
  PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: seconds(10, 0.5, 600, 'Abandon a collector run (and its connection) after this long'),
  PGVIGIL_STALENESS_SECONDS: seconds(
    120,
    1,
    86400,
    "Series of a collector whose last success is older than this (or 2 intervals, if longer) disappear",
  ),
  PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: seconds(5, 0.5, 300, 'How often pg_up is refreshed by SELECT 1 when collectors are quiet'),
  PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS: seconds(
    10,
    0.1,
    300,
    'Longest wait between connection attempts while PostgreSQL is unreachable (backoff starts at 0.25 s and doubles)',
  ),
  PGVIGIL_DATABASE_DISCOVERY_INTERVAL_SECONDS: seconds(60, 1, 86400, 'How often the list of databases is refreshed'),
  PGVIGIL_INCLUDE_DATABASES: Type.String({ default: '', description: 'Regex: only databases matching it (empty: all)' }),
  PGVIGIL_EXCLUDE_DATABASES: Type.String({ default: '', description: 'Regex: skip databases matching it' }),
  PGVIGIL_DISABLED_COLLECTORS: Type.String({ default: '', description: 'Comma-separated collector names to turn off' }),
  PGVIGIL_PGBOUNCER_URL: Type.Optional(
    Type.String({ minLength: 1, description: 'PgBouncer admin console URL (postgres://user:pw@host:6432/pgbouncer); enables the pgbouncer collector' }),
  ),
  PGVIGIL_PGBOUNCER_URL_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding PGVIGIL_PGBOUNCER_URL' })),
  PGVIGIL_EXPECTED_POOL_SIZES: Type.String({
    default: '',
    description: 'Client pool size per application_name, e.g. "heliotrope_imaginal=20,admin=5" (client_pools utilization)',
  }),
  PGVIGIL_DATA_VOLUME_PATH: Type.String({
    default: '',
    description: 'A path on the PostgreSQL data volume (e.g. the mounted PGDATA); enables the volume collector (statfs)',
  }),
  PGVIGIL_STATEMENTS_TOP_N: Type.Integer({ default: 50, minimum: 1, maximum: 1000, description: 'Statements exported with their own queryid series' }),
  PGVIGIL_STATEMENTS_MAX_SERIES: Type.Integer({
    default: 2000,
    minimum: 10,
    maximum: 100000,
    description: 'Hard cap on per-statement series across all statement families',
  }),
  PGVIGIL_STATEMENTS_TEXT_MAX_LENGTH: Type.Integer({
    default: 1000,
    minimum: 50,
    maximum: 100000,
    description: 'Statement texts (redacted) are cut to this many characters in /api/statements and pg_stat_statements_query_info',
  }),
  PGVIGIL_STATEMENTS_TEXT_CACHE_BYTES: Type.Integer({
    default: 4 * 1024 * 1024,
    minimum: 65536,
    description: 'Memory cap of the redacted statement-text cache (texts of top statements are kept first)',
  }),
  PGVIGIL_STATEMENTS_TEXT_TIMEOUT_SECONDS: seconds(2, 0.1, 600, 'statement_timeout of the separate statement-text fetch (and of EXPLAIN)'),
  PGVIGIL_STATEMENTS_MINMAX_RESET: Type.Boolean({
    default: false,
    description:
      'pg_stat_statements 1.11+ (PostgreSQL 17+): reset min/max_exec_time after every poll (minmax_only), so latency ' +
      "histograms are bounded by each interval's own extremes; other readers of the view then see per-interval " +
      'min/max',
  }),
  PGVIGIL_QUERY_CLASSES_FILE: Type.String({
    default: '',
    description: 'YAML or JSON file of query classes with latency objectives (see deploy/examples/query-classes.yaml); empty: every statement is class "other"',
  }),
  PGVIGIL_SLOW_QUERY_THRESHOLD_SECONDS: seconds(0.1, 0.000001, 3600, 'Slow-statement log: interval mean above which a statement of no class (class "other") is logged'),
  PGVIGIL_SLOW_QUERY_LOG_INTERVAL_SECONDS: seconds(300, 1, 86400, 'Slow-statement log: at most one line per queryid per this many seconds'),
  PGVIGIL_SLOW_QUERY_EXPLAIN: Type.Boolean({
    default: true,
    description: 'PostgreSQL 16+: attach EXPLAIN (GENERIC_PLAN) of the slow statement (plan only, never executed) when it is on the connection database',
  }),
  PGVIGIL_SLOW_QUERY_SEQ_SCAN_MIN_ROWS: Type.Number({
    default: 10000,
    minimum: 0,
    description: 'Slow-statement log: flag sequential scans on tables with at least this many rows (pg_class.reltuples)',
  }),
  PGVIGIL_MAX_TABLES: Type.Integer({
    default: 1000,
    minimum: 1,
    maximum: 1000000,
    description: 'Per database: tables with their own series (the largest and busiest are kept; pgvigil_tables_omitted counts the rest)',
  }),
  PGVIGIL_SIZES_INTERVAL_SECONDS: seconds(
    300,
    0,
    86400,
    'Per database: read table and index sizes and the bloat estimate at most this often (the costly part of those queries; 0: every poll); statistics keep their own interval',
  ),
  PGVIGIL_MAX_INDEXES: Type.Integer({
    default: 2000,
    minimum: 1,
    maximum: 1000000,
    description: 'Per database: indexes with their own series (the largest and most scanned are kept; pgvigil_indexes_omitted counts the rest)',
  }),
  PGVIGIL_UNUSED_INDEX_AGE_SECONDS: seconds(
    30 * 86400,
    1,
    10 * 365 * 86400,
    'PostgreSQL 16+: an index last scanned longer ago than this counts as unused (any major: never scanned since the stats reset)',
  ),
  PGVIGIL_SEQ_SCAN_MIN_TABLE_BYTES: Type.Number({
    default: 10 * 1024 * 1024,
    minimum: 0,
    description: 'Missing-index candidates: tables at least this big (relpages * block_size)',
  }),
  PGVIGIL_SEQ_SCAN_MIN_SCANS: Type.Integer({ default: 100, minimum: 1, description: 'Missing-index candidates: at least this many sequential scans' }),
  PGVIGIL_SEQ_SCAN_MIN_ROWS_PER_SCAN: Type.Number({
    default: 10000,
    minimum: 1,
    description: 'Missing-index candidates: at least this many rows read per sequential scan on average',
  }),
  PGVIGIL_AUTH_USERNAME: Type.Optional(Type.String({ minLength: 1, description: 'Basic auth user for /metrics and /api/* (with PGVIGIL_AUTH_PASSWORD)' })),
  PGVIGIL_AUTH_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Basic auth password' })),
  PGVIGIL_AUTH_PASSWORD_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding the basic auth password' })),
  PGVIGIL_AUTH_TOKEN: Type.Optional(Type.String({ minLength: 16, description: 'Bearer token accepted on /metrics and /api/* (16+ characters)' })),
  PGVIGIL_AUTH_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding the bearer token' })),
  PGVIGIL_TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM certificate (chain): serve HTTPS (with PGVIGIL_TLS_KEY_FILE)' })),
  PGVIGIL_TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1, description: 'PEM private key of PGVIGIL_TLS_CERT_FILE' })),
} satisfies Record<string, TSchema>;

function intervalVariable(name: string): string {
  return `PGVIGIL_${name.toUpperCase()}_INTERVAL_SECONDS`;
}

function buildSchema() {
  const intervals: Record<string, TSchema> = {};
  for (const def of collectorDefinitions) {
    intervals[intervalVariable(def.name)] = seconds(def.defaultIntervalSeconds, 1, 86400, `Poll interval of the ${def.name} collector`);
  }
  return Type.Object({ ...baseProperties, ...intervals });
}

export const configSchema = buildSchema();

type BaseEnv = Static<ReturnType<typeof Type.Object<typeof baseProperties>>>;

export interface Config extends BaseEnv {
  /** node-postgres settings for every exporter connection (holds the password: never log it). */
  readonly connection: Readonly<ClientConfig>;
  readonly includeDatabases: RegExp | undefined;
  readonly excludeDatabases: RegExp | undefined;
  readonly enabledCollectors: ReadonlySet<string>;
  /** Poll interval in seconds per collector name. */
  readonly intervals: ReadonlyMap<string, number>;
  /** Query classes from PGVIGIL_QUERY_CLASSES_FILE (empty when unset). */
  readonly queryClasses: readonly QueryClass[];
  /** PgBouncer admin console URL from PGVIGIL_PGBOUNCER_URL(_FILE); undefined: pgbouncer collector off (secret: never log). */
  readonly pgbouncerUrl: string | undefined;
  /** Expected client pool size per application_name (PGVIGIL_EXPECTED_POOL_SIZES). */
  readonly expectedPoolSizes: ReadonlyMap<string, number>;
  /** Credentials /metrics and /api/* demand; undefined: open (secrets: never log). */
  readonly httpAuth: HttpAuth | undefined;
  /** Certificate and key to serve HTTPS; undefined: plain HTTP. */
  readonly tls: { readonly cert: Buffer; readonly key: Buffer } | undefined;
}

export interface HttpAuth {
  readonly basic?: { readonly username: string; readonly password: string };
  readonly token?: string;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

function describeAjvError(e: ErrorObject): string {
  const variable =
    e.keyword === 'required' ? String(e.params.missingProperty) : e.instancePath.replace(/^\//, '') || 'environment';
  if (e.keyword === 'const' || e.keyword === 'anyOf') return `${variable}: not one of the allowed values`;
  return `${variable}: ${e.message ?? 'invalid'}`;
}

/** Reads `<NAME>_FILE` into `<NAME>`, the convention of Kubernetes secret mounts. */
function readSecretFile(env: Record<string, string | undefined>, name: string, problems: string[]): string | undefined {
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return env[name];
  if (env[name] !== undefined && env[name] !== '') {
    problems.push(`${name}_FILE: set together with ${name}; use one of them`);
    return undefined;
  }
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    problems.push(`${name}_FILE: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

function httpAuthFrom(env: Record<string, string | undefined>, base: BaseEnv, problems: string[]): HttpAuth | undefined {
  const password = readSecretFile(env, 'PGVIGIL_AUTH_PASSWORD', problems);
  const token = readSecretFile(env, 'PGVIGIL_AUTH_TOKEN', problems);
  const username = base.PGVIGIL_AUTH_USERNAME;
  if ((username === undefined) !== (password === undefined || password === '')) {
    problems.push('PGVIGIL_AUTH_USERNAME: set together with PGVIGIL_AUTH_PASSWORD (or PGVIGIL_AUTH_PASSWORD_FILE), or neither');
  }
  if (token !== undefined && token.length < 16) problems.push('PGVIGIL_AUTH_TOKEN_FILE: token must be at least 16 characters');
  if (username !== undefined && username.includes(':')) problems.push('PGVIGIL_AUTH_USERNAME: must not contain ":" (basic auth separator)');
  const auth: HttpAuth = {
    ...(username !== undefined && password ? { basic: { username, password } } : {}),
    ...(token !== undefined && token !== '' ? { token } : {}),
  };
  return auth.basic === undefined && auth.token === undefined ? undefined : auth;
}

function tlsFrom(base: BaseEnv, problems: string[]): Config['tls'] {
  const { PGVIGIL_TLS_CERT_FILE: certFile, PGVIGIL_TLS_KEY_FILE: keyFile } = base;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    problems.push(`${certFile === undefined ? 'PGVIGIL_TLS_CERT_FILE' : 'PGVIGIL_TLS_KEY_FILE'}: TLS needs both PGVIGIL_TLS_CERT_FILE and PGVIGIL_TLS_KEY_FILE`);
    return undefined;
  }
  const read = (variable: string, file: string, marker: RegExp): Buffer | undefined => {
    try {
      const pem = readFileSync(file);
      if (!marker.test(pem.toString('latin1'))) problems.push(`${variable}: ${file} holds no PEM ${marker === PEM_CERT ? 'certificate' : 'private key'}`);
      return pem;
    } catch (err) {
      problems.push(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };
  const cert = read('PGVIGIL_TLS_CERT_FILE', certFile, PEM_CERT);
  const key = read('PGVIGIL_TLS_KEY_FILE', keyFile, PEM_KEY);
  return cert !== undefined && key !== undefined ? { cert, key } : undefined;
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----/;
const PEM_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;

function compileRegex(variable: string, source: string, problems: string[]): RegExp | undefined {
  if (source === '') return undefined;
  try {
    return new RegExp(source);
  } catch (err) {
    problems.push(`${variable}: not a valid regular expression (${(err as Error).message})`);
    return undefined;
  }
}

function connectionFrom(env: BaseEnv, databaseUrl: string | undefined, password: string | undefined, problems: string[]): ClientConfig {
  const connection: ClientConfig = {};
  if (databaseUrl !== undefined) {
    try {
      const url = new URL(databaseUrl);
      if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
        problems.push('DATABASE_URL: must start with postgres:// or postgresql://');
      }
    } catch {
      // Never echo the value: it usually holds a password.
      problems.push('DATABASE_URL: not a valid URL (expected postgres://user:password@host:port/database)');
    }
    connection.connectionString = databaseUrl;
  } else {
    if (env.PGHOST !== undefined) connection.host = env.PGHOST;
    if (env.PGPORT !== undefined) connection.port = env.PGPORT;
    if (env.PGUSER !== undefined) connection.user = env.PGUSER;
    connection.database = env.PGDATABASE ?? 'postgres';
  }
  if (password !== undefined && connection.connectionString !== undefined) {
    // node-postgres lets the URL's (absent) password override `password`: put it in the URL,
    // unless the URL has its own (libpq gives the URL precedence too).
    try {
      const url = new URL(connection.connectionString);
      if (url.password === '') {
        url.password = password;
        connection.connectionString = url.toString();
      }
    } catch {
      // already reported above
    }
  } else if (password !== undefined) connection.password = password;
  if (env.PGSSLMODE !== undefined && env.PGSSLMODE !== 'disable') {
    const ca = env.PGSSLROOTCERT !== undefined ? readFileSync(env.PGSSLROOTCERT, 'utf8') : undefined;
    const verify = env.PGSSLMODE === 'verify-ca' || env.PGSSLMODE === 'verify-full';
    connection.ssl = { rejectUnauthorized: verify, ...(ca !== undefined ? { ca } : {}) };
  }
  return connection;
}

function queryClassesFrom(file: string, problems: string[]): QueryClass[] {
  if (file === '') return [];
  const loaded = loadQueryClasses(file);
  problems.push(...loaded.problems);
  return loaded.classes;
}

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const problems: string[] = [];
  let parsed: Record<string, unknown>;
  try {
    parsed = envSchema({ schema: configSchema, data: { ...env }, dotenv: false }) as Record<string, unknown>;
  } catch (err) {
    const errors = (err as { errors?: ErrorObject[] }).errors ?? [];
    throw new ConfigError(errors.length > 0 ? errors.map(describeAjvError) : [(err as Error).message]);
  }
  const base = parsed as BaseEnv;
  // ajv coerces "Infinity" to a number that passes minimum/maximum: refuse it here.
  for (const [name, node] of Object.entries(configSchema.properties as Record<string, { type?: string }>)) {
    const v = parsed[name];
    if ((node.type === 'number' || node.type === 'integer') && typeof v === 'number' && !Number.isFinite(v)) {
      problems.push(`${name}: must be a finite number`);
    }
  }
  const databaseUrl = readSecretFile(env, 'DATABASE_URL', problems);
  const password = readSecretFile(env, 'PGPASSWORD', problems);

  const known = new Set(collectorDefinitions.map((d) => d.name));
  const disabled = base.PGVIGIL_DISABLED_COLLECTORS.split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of disabled) {
    if (!known.has(name)) problems.push(`PGVIGIL_DISABLED_COLLECTORS: unknown collector "${name}" (known: ${[...known].join(', ')})`);
  }
  if (base.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS < base.PGVIGIL_STATEMENT_TIMEOUT_SECONDS) {
    problems.push('PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: must be at least PGVIGIL_STATEMENT_TIMEOUT_SECONDS, so the server cancels first');
  }
  const intervals = new Map<string, number>();
  for (const def of collectorDefinitions) intervals.set(def.name, parsed[intervalVariable(def.name)] as number);

  const config: Config = {
    ...base,
    connection: {},
    includeDatabases: compileRegex('PGVIGIL_INCLUDE_DATABASES', base.PGVIGIL_INCLUDE_DATABASES, problems),
    excludeDatabases: compileRegex('PGVIGIL_EXCLUDE_DATABASES', base.PGVIGIL_EXCLUDE_DATABASES, problems),
    enabledCollectors: new Set([...known].filter((n) => !disabled.includes(n))),
    intervals,
    pgbouncerUrl: checkPgbouncerUrl(readSecretFile(env, 'PGVIGIL_PGBOUNCER_URL', problems), problems),
    expectedPoolSizes: parseExpectedPoolSizes(base.PGVIGIL_EXPECTED_POOL_SIZES, problems),
    httpAuth: httpAuthFrom(env, base, problems),
    tls: tlsFrom(base, problems),
    queryClasses: queryClassesFrom(base.PGVIGIL_QUERY_CLASSES_FILE, problems),
  };
  let connection: ClientConfig = {};
  try {
    connection = connectionFrom(base, databaseUrl, password, problems);
  } catch (err) {
    problems.push(`PGSSLROOTCERT: cannot read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, connection };
}

/** What may be logged about the connection: never the password or the full URL. */
export function describeConnection(connection: Readonly<ClientConfig>): Record<string, unknown> {
  if (connection.connectionString !== undefined) {
    try {
      const url = new URL(connection.connectionString);
      return { host: url.hostname || 'socket', port: url.port || '5432', user: url.username, database: url.pathname.slice(1) };
    } catch {
      return { url: '(unparseable)' };
    }
  }
  return { host: connection.host ?? 'default', port: connection.port ?? 5432, user: connection.user, database: connection.database };
}

export { intervalVariable };
