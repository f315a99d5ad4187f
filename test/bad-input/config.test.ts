import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ConfigError, configSchema, loadConfig } from '../../src/pgvigil-config.js';
import { runMain } from '../helpers/spawn-main.js';

// Every variable of the schema, tried with values it must refuse. Invalid values are derived
// from the schema itself (type, bounds, allowed literals), so a variable added later is covered
// the day it lands; variables whose values cannot be derived get hand-written cases below, and
// a variable with neither makes this test fail until someone decides what "invalid" means for it.

const BASE = { DATABASE_URL: 'postgres://monitor@127.0.0.1:5432/postgres' };
const dir = mkdtempSync(join(tmpdir(), 'pgvigil-bad-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const notPem = join(dir, 'not.pem');
writeFileSync(notPem, 'hello\n');
const MISSING = join(dir, 'does-not-exist');

interface SchemaNode {
  type?: string;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  anyOf?: { const?: unknown }[];
}

function derivedInvalid(node: SchemaNode): string[] {
  const values: string[] = [];
  if (node.anyOf?.every((a) => a.const !== undefined)) values.push('bogus', 'INFO ');
  if (node.type === 'number' || node.type === 'integer') {
    values.push('abc', '1,5', '0x', 'Infinity');
    if (node.minimum !== undefined) values.push(String(node.minimum - Math.max(1, Math.abs(node.minimum))));
    if (node.maximum !== undefined) values.push(String(node.maximum * 2 + 1));
  }
  if (node.type === 'integer') values.push('1.5');
  if (node.type === 'boolean') values.push('maybe', '2');
  if (node.type === 'string' && (node.minLength ?? 0) > 0) values.push('x'.repeat(node.minLength! - 1));
  return values;
}

/** Values the schema cannot express as invalid; the loader's own checks refuse them. */
const HAND_WRITTEN: Record<string, Record<string, string | undefined>[]> = {
  DATABASE_URL: [{ DATABASE_URL: 'not a url' }, { DATABASE_URL: 'http://u:p@h/db' }],
  DATABASE_URL_FILE: [{ DATABASE_URL: undefined, DATABASE_URL_FILE: MISSING }],
  PGPASSWORD_FILE: [{ PGPASSWORD_FILE: MISSING }, { PGPASSWORD: 'x', PGPASSWORD_FILE: notPem }],
  PGSSLROOTCERT: [{ PGSSLMODE: 'verify-full', PGSSLROOTCERT: MISSING }],
  PGVIGIL_INCLUDE_DATABASES: [{ PGVIGIL_INCLUDE_DATABASES: '(' }, { PGVIGIL_INCLUDE_DATABASES: '[a-' }],
  PGVIGIL_EXCLUDE_DATABASES: [{ PGVIGIL_EXCLUDE_DATABASES: '*' }],
  PGVIGIL_DISABLED_COLLECTORS: [{ PGVIGIL_DISABLED_COLLECTORS: 'activity,no_such_collector' }],
  PGVIGIL_SETTINGS_INCLUDE: [{ PGVIGIL_SETTINGS_INCLUDE: 'random-page-cost' }, { PGVIGIL_SETTINGS_INCLUDE: 'work_%' }],
  PGVIGIL_SETTINGS_EXCLUDE: [{ PGVIGIL_SETTINGS_EXCLUDE: 'Log_*' }],
  PGVIGIL_AUTH_USERNAME: [
    { PGVIGIL_AUTH_USERNAME: 'prom' },
    { PGVIGIL_AUTH_USERNAME: 'a:b', PGVIGIL_AUTH_PASSWORD: 'pw' },
  ],
  PGVIGIL_AUTH_PASSWORD: [{ PGVIGIL_AUTH_PASSWORD: 'pw-without-user' }],
  PGVIGIL_AUTH_PASSWORD_FILE: [{ PGVIGIL_AUTH_USERNAME: 'prom', PGVIGIL_AUTH_PASSWORD_FILE: MISSING }],
  PGVIGIL_AUTH_TOKEN_FILE: [{ PGVIGIL_AUTH_TOKEN_FILE: MISSING }, { PGVIGIL_AUTH_TOKEN_FILE: notPem }],
  PGVIGIL_TLS_CERT_FILE: [
    { PGVIGIL_TLS_CERT_FILE: notPem, PGVIGIL_TLS_KEY_FILE: notPem },
    { PGVIGIL_TLS_CERT_FILE: MISSING },
  ],
  PGVIGIL_TLS_KEY_FILE: [{ PGVIGIL_TLS_KEY_FILE: notPem }],
  PGVIGIL_PGBOUNCER_URL: [{ PGVIGIL_PGBOUNCER_URL: 'not a url' }],
  PGVIGIL_PGBOUNCER_URL_FILE: [{ PGVIGIL_PGBOUNCER_URL_FILE: MISSING }],
  PGVIGIL_EXPECTED_POOL_SIZES: [{ PGVIGIL_EXPECTED_POOL_SIZES: 'app=-1' }, { PGVIGIL_EXPECTED_POOL_SIZES: 'noequals' }],
  PGVIGIL_QUERY_CLASSES_FILE: [{ PGVIGIL_QUERY_CLASSES_FILE: MISSING }],
  PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: [
    { PGVIGIL_COLLECTOR_TIMEOUT_SECONDS: '1', PGVIGIL_STATEMENT_TIMEOUT_SECONDS: '5' },
  ],
};

/** Free text by nature: any non-empty value is a legal host, user, password or database name. */
const FREE_TEXT = new Set([
  'PGPASSWORD',
  'PGVIGIL_DATA_VOLUME_PATH' /* checked by the volume collector when it runs */,
]);

const properties = (configSchema as unknown as { properties: Record<string, SchemaNode> }).properties;

t.test('every variable refuses invalid values, and the message names it', async (t) => {
  const uncovered: string[] = [];
  let cases = 0;
  for (const [variable, node] of Object.entries(properties)) {
    const envs = [...derivedInvalid(node).map((v) => ({ [variable]: v })), ...(HAND_WRITTEN[variable] ?? [])];
    if (envs.length === 0) {
      if (!FREE_TEXT.has(variable)) uncovered.push(variable);
      continue;
    }
    for (const env of envs) {
      cases++;
      let error: unknown;
      try {
        loadConfig({ ...BASE, ...env });
      } catch (err) {
        error = err;
      }
      const shown = JSON.stringify(env);
      if (!(error instanceof ConfigError)) {
        t.fail(`${shown} was accepted (or threw ${String(error)})`);
        continue;
      }
      t.ok(error.message.includes(variable), `${shown} → names ${variable}`, { diagnostic: false });
      t.notMatch(error.message, /\n\s+at /, 'no stack trace in the message', { diagnostic: false });
    }
  }
  t.comment(`${cases} invalid configurations refused across ${Object.keys(properties).length} variables`);
  t.same(uncovered, [], 'every variable has invalid values to try (derive them or add a hand-written case)');
});

t.test('defaults load, and a few valid edge values are accepted', async (t) => {
  t.doesNotThrow(() => loadConfig(BASE));
  t.doesNotThrow(() =>
    loadConfig({ ...BASE, PGVIGIL_PORT: '0', PGVIGIL_LOG_LEVEL: 'silent', PGVIGIL_POOL_SIZE: '20' }),
  );
});

t.test('the real entry point exits non-zero and names the variable', async (t) => {
  const res = await runMain({ ...BASE, PGVIGIL_POOL_SIZE: '0', PGVIGIL_INCLUDE_DATABASES: '(' }, 120_000);
  t.equal(res.code, 2, 'exit code 2');
  t.match(res.stderr, /PGVIGIL_POOL_SIZE/, 'stderr names PGVIGIL_POOL_SIZE');
  t.notMatch(res.stderr, /\n\s+at /, 'no stack trace');
  t.equal(res.stdout, '', 'nothing on stdout');
});
