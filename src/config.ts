import { readFileSync } from 'node:fs';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import type { ErrorObject } from 'ajv';
import envSchema from 'env-schema';
import type { ClientConfig } from 'pg';

// The process-wide variables (connection, HTTP, polling) and how a configuration is
// loaded. Collectors declare their own variables (SettingsSpec); the full schema is composed from
// both in pgvigil-config.ts, so this module knows no collector. Connection variables keep libpq's
// names (DATABASE_URL, PGHOST ...) so existing deployments work unchanged; everything of our own
// is PGVIGIL_*. The README's configuration table is checked against the composed schema by a test.

export const seconds = (def: number, min: number, max: number, description: string) =>
  Type.Number({ default: def, minimum: min, maximum: max, description });

const baseProperties = {
  DATABASE_URL: Type.Optional(
    Type.String({ minLength: 1, description: 'libpq connection URI; overrides PG* variables' }),
  ),
  DATABASE_URL_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'File holding DATABASE_URL (Kubernetes secret)' }),
  ),
  PGHOST: Type.Optional(Type.String({ minLength: 1, description: 'Server host or Unix socket directory' })),
  PGPORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'Server port' })),
  PGUSER: Type.Optional(Type.String({ minLength: 1, description: 'Role to connect as (pg_monitor is enough)' })),
  PGPASSWORD: Type.Optional(Type.String({ description: 'Password' })),
  PGPASSWORD_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding the password' })),
  PGDATABASE: Type.Optional(
    Type.String({ minLength: 1, description: 'Database to connect to first (default: postgres)' }),
  ),
  PGSSLMODE: Type.Optional(
    Type.Union(
      ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'].map((m) => Type.Literal(m)),
      {
        description: 'TLS to PostgreSQL',
      },
    ),
  ),
  PGSSLROOTCERT: Type.Optional(Type.String({ minLength: 1, description: 'CA file for verify-ca / verify-full' })),

  PGVIGIL_HOST: Type.String({ default: '0.0.0.0', minLength: 1, description: 'Address the HTTP server listens on' }),
  PGVIGIL_PORT: Type.Integer({
    default: 9630,
    minimum: 0,
    maximum: 65535,
    description: 'HTTP port (0 picks a free one)',
  }),
  PGVIGIL_LOG_LEVEL: Type.Union(
    ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
    { default: 'info', description: 'pino log level' },
  ),
  PGVIGIL_HEAP_TRIM_MB: Type.Number({
    default: 4,
    minimum: 0,
    maximum: 4096,
    description:
      'When the poller goes idle after polls that grew the heap by this many MiB ' +
      '(and by a quarter), collect and compact it at once instead of 8 s or more ' +
      'later (needs node --expose-gc, as the entry point sets); 0: leave it to V8',
  }),
  PGVIGIL_POOL_SIZE: Type.Integer({
    default: 2,
    minimum: 1,
    maximum: 20,
    description: 'Most connections pgvigil ever holds',
  }),
  PGVIGIL_CONNECT_TIMEOUT_SECONDS: seconds(5, 0.1, 120, 'Give up a connection attempt after this long'),
  PGVIGIL_STATEMENT_TIMEOUT_SECONDS: seconds(5, 0.1, 600, 'statement_timeout of pgvigil sessions'),
  PGVIGIL_LOCK_TIMEOUT_SECONDS: seconds(1, 0.01, 600, 'lock_timeout of pgvigil sessions (never queue behind DDL)'),
  PGVIGIL_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS: seconds(
    10,
    1,
    3600,
    'idle_in_transaction_session_timeout of pgvigil sessions',
  ),
  PGVIGIL_IDLE_CONNECTION_SECONDS: seconds(
    180,
    1,
    3600,
    'Close a connection to the connection database unused for this long; keep it above the table and ' +
      'index intervals so it stays warm (connections to discovered databases close after each run)',
  ),
  PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: seconds(
    10,
    0.5,
    600,
    'Abandon a collector run (and its connection) after this long',
  ),
  PGVIGIL_STALENESS_SECONDS: seconds(
    120,
    1,
    86400,
    'Series of a collector whose last success is older than this (or 2 intervals, if longer) disappear',
  ),
  PGVIGIL_HEARTBEAT_INTERVAL_SECONDS: seconds(
    5,
    0.5,
    300,
    'How often pg_up is refreshed by SELECT 1 when collectors are quiet',
  ),
  PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS: seconds(
    10,
    0.1,
    300,
    'Longest wait between connection attempts while PostgreSQL is unreachable (backoff starts at 0.25 s and doubles)',
  ),
  PGVIGIL_DATABASE_DISCOVERY_INTERVAL_SECONDS: seconds(60, 1, 86400, 'How often the list of databases is refreshed'),
  PGVIGIL_INCLUDE_DATABASES: Type.String({
    default: '',
    description: 'Regex: only databases matching it (empty: all)',
  }),
  PGVIGIL_EXCLUDE_DATABASES: Type.String({ default: '', description: 'Regex: skip databases matching it' }),
  PGVIGIL_DISABLED_COLLECTORS: Type.String({ default: '', description: 'Comma-separated collector names to turn off' }),
  PGVIGIL_AUTH_USERNAME: Type.Optional(
    Type.String({ minLength: 1, description: 'Basic auth user for /metrics and /api/* (with PGVIGIL_AUTH_PASSWORD)' }),
  ),
  PGVIGIL_AUTH_PASSWORD: Type.Optional(Type.String({ minLength: 1, description: 'Basic auth password' })),
  PGVIGIL_AUTH_PASSWORD_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'File holding the basic auth password' }),
  ),
  PGVIGIL_AUTH_TOKEN: Type.Optional(
    Type.String({ minLength: 16, description: 'Bearer token accepted on /metrics and /api/* (16+ characters)' }),
  ),
  PGVIGIL_AUTH_TOKEN_FILE: Type.Optional(Type.String({ minLength: 1, description: 'File holding the bearer token' })),
  PGVIGIL_TLS_CERT_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'PEM certificate (chain): serve HTTPS (with PGVIGIL_TLS_KEY_FILE)' }),
  ),
  PGVIGIL_TLS_KEY_FILE: Type.Optional(
    Type.String({ minLength: 1, description: 'PEM private key of PGVIGIL_TLS_CERT_FILE' }),
  ),
} satisfies Record<string, TSchema>;

/** How long a collector's series outlive its last success: PGVIGIL_STALENESS_SECONDS, or 2 intervals if longer. */
export function stalenessMs(config: Pick<Config, 'PGVIGIL_STALENESS_SECONDS'>, intervalSeconds: number): number {
  return Math.max(config.PGVIGIL_STALENESS_SECONDS, 2 * intervalSeconds) * 1000;
}

export function intervalVariable(name: string): string {
  return `PGVIGIL_${name.toUpperCase()}_INTERVAL_SECONDS`;
}

/**
 * A collector's own variables and how their parsed values become the settings its code reads.
 * `resolve` may read `env` for *_FILE secrets; every problem it pushes names its variable.
 */
export interface SettingsSpec<Settings> {
  readonly variables: Readonly<Record<string, TSchema>>;
  readonly resolve: (
    values: Readonly<Record<string, unknown>>,
    env: Readonly<Record<string, string | undefined>>,
    problems: string[],
  ) => Settings;
}

/** What configuration needs to know of a collector (CollectorDefinition has it). */
export interface ConfiguredCollector {
  readonly name: string;
  readonly defaultIntervalSeconds: number;
  readonly settings?: SettingsSpec<unknown>;
}

/**
 * The schema of every variable: the process-wide ones, then per collector its poll interval and
 * its own variables. A variable two collectors share (the same schema object) appears once.
 */
export function composeConfigSchema(collectors: readonly ConfiguredCollector[]) {
  const properties: Record<string, TSchema> = { ...baseProperties };
  for (const c of collectors) {
    properties[intervalVariable(c.name)] = seconds(
      c.defaultIntervalSeconds,
      1,
      86400,
      `Poll interval of the ${c.name} collector`,
    );
    for (const [name, schema] of Object.entries(c.settings?.variables ?? {})) {
      if (properties[name] !== undefined && properties[name] !== schema) {
        throw new Error(`collector ${c.name}: variable ${name} is already declared with another schema`);
      }
      properties[name] = schema;
    }
  }
  return Type.Object(properties);
}

type BaseEnv = Static<ReturnType<typeof Type.Object<typeof baseProperties>>>;

export interface Config extends BaseEnv {
  /** node-postgres settings for every exporter connection (holds the password: never log it). */
  readonly connection: Readonly<ClientConfig>;
  readonly includeDatabases: RegExp | undefined;
  readonly excludeDatabases: RegExp | undefined;
  readonly enabledCollectors: ReadonlySet<string>;
  /** Poll interval in seconds per collector name. */
  readonly intervals: ReadonlyMap<string, number>;
  /** Each collector's settings, resolved from its own variables (SettingsSpec), by collector name. */
  readonly collectorSettings: ReadonlyMap<string, unknown>;
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
export function readSecretFile(
  env: Record<string, string | undefined>,
  name: string,
  problems: string[],
): string | undefined {
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

function httpAuthFrom(
  env: Record<string, string | undefined>,
  base: BaseEnv,
  problems: string[],
): HttpAuth | undefined {
  const password = readSecretFile(env, 'PGVIGIL_AUTH_PASSWORD', problems);
  const token = readSecretFile(env, 'PGVIGIL_AUTH_TOKEN', problems);
  const username = base.PGVIGIL_AUTH_USERNAME;
  if ((username === undefined) !== (password === undefined || password === '')) {
    problems.push(
      'PGVIGIL_AUTH_USERNAME: set together with PGVIGIL_AUTH_PASSWORD (or PGVIGIL_AUTH_PASSWORD_FILE), or neither',
    );
  }
  if (token !== undefined && token.length < 16)
    problems.push('PGVIGIL_AUTH_TOKEN_FILE: token must be at least 16 characters');
  if (username?.includes(':')) problems.push('PGVIGIL_AUTH_USERNAME: must not contain ":" (basic auth separator)');
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
    problems.push(
      `${certFile === undefined ? 'PGVIGIL_TLS_CERT_FILE' : 'PGVIGIL_TLS_KEY_FILE'}: ` +
        'TLS needs both PGVIGIL_TLS_CERT_FILE and PGVIGIL_TLS_KEY_FILE',
    );
    return undefined;
  }
  const read = (variable: string, file: string, marker: RegExp): Buffer | undefined => {
    try {
      const pem = readFileSync(file);
      if (!marker.test(pem.toString('latin1')))
        problems.push(`${variable}: ${file} holds no PEM ${marker === PEM_CERT ? 'certificate' : 'private key'}`);
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

function connectionFrom(
  env: BaseEnv,
  databaseUrl: string | undefined,
  password: string | undefined,
  problems: string[],
): ClientConfig {
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

/** Loads the configuration for these collectors; throws ConfigError naming every bad variable. */
export function loadConfigFor(
  collectors: readonly ConfiguredCollector[],
  env: Record<string, string | undefined> = process.env,
  configSchema = composeConfigSchema(collectors),
): Config {
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

  const known = new Set(collectors.map((d) => d.name));
  const disabled = base.PGVIGIL_DISABLED_COLLECTORS.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const name of disabled) {
    if (!known.has(name))
      problems.push(`PGVIGIL_DISABLED_COLLECTORS: unknown collector "${name}" (known: ${[...known].join(', ')})`);
  }
  if (base.PGVIGIL_COLLECTOR_TIMEOUT_SECONDS < base.PGVIGIL_STATEMENT_TIMEOUT_SECONDS) {
    problems.push(
      'PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: must be at least ' +
        'PGVIGIL_STATEMENT_TIMEOUT_SECONDS, so the server cancels first',
    );
  }
  const intervals = new Map<string, number>();
  const collectorSettings = new Map<string, unknown>();
  for (const c of collectors) {
    intervals.set(c.name, parsed[intervalVariable(c.name)] as number);
    if (c.settings === undefined) continue;
    const values = Object.fromEntries(Object.keys(c.settings.variables).map((name) => [name, parsed[name]]));
    collectorSettings.set(c.name, c.settings.resolve(values, env, problems));
  }

  const config: Config = {
    ...base,
    connection: {},
    includeDatabases: compileRegex('PGVIGIL_INCLUDE_DATABASES', base.PGVIGIL_INCLUDE_DATABASES, problems),
    excludeDatabases: compileRegex('PGVIGIL_EXCLUDE_DATABASES', base.PGVIGIL_EXCLUDE_DATABASES, problems),
    enabledCollectors: new Set([...known].filter((n) => !disabled.includes(n))),
    intervals,
    collectorSettings,
    httpAuth: httpAuthFrom(env, base, problems),
    tls: tlsFrom(base, problems),
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
      return {
        host: url.hostname || 'socket',
        port: url.port || '5432',
        user: url.username,
        database: url.pathname.slice(1),
      };
    } catch {
      return { url: '(unparseable)' };
    }
  }
  return {
    host: connection.host ?? 'default',
    port: connection.port ?? 5432,
    user: connection.user,
    database: connection.database,
  };
}

/** Whether the include/exclude patterns of discovery let this database through. */
export function databaseSelected(
  config: Pick<Config, 'includeDatabases' | 'excludeDatabases'>,
  datname: string,
): boolean {
  const { includeDatabases: include, excludeDatabases: exclude } = config;
  return (include === undefined || include.test(datname)) && (exclude === undefined || !exclude.test(datname));
}
