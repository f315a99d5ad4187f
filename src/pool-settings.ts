import { Type } from '@sinclair/typebox';
import { readSecretFile, type SettingsSpec } from './config.js';

// The connection-pooling variables (PgBouncer admin URL, expected client pool sizes): declared by
// the pgbouncer and client_pools collectors, parsed here so the rules are unit-testable; every
// message names its variable.

/** "heliotrope_imaginal=20,admin=5" → Map { heliotrope_imaginal → 20, admin → 5 }. */
export function parseExpectedPoolSizes(source: string, problems: string[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const raw of source.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.lastIndexOf('=');
    const name = eq < 0 ? '' : entry.slice(0, eq).trim();
    const size = eq < 0 ? '' : entry.slice(eq + 1).trim();
    if (name === '' || !/^[1-9][0-9]{0,5}$/.test(size)) {
      problems.push(
        `PGVIGIL_EXPECTED_POOL_SIZES: "${entry}" is not application_name=size ` +
          '(size a positive integer), e.g. "heliotrope_imaginal=20,admin=5"',
      );
      continue;
    }
    if (sizes.has(name)) problems.push(`PGVIGIL_EXPECTED_POOL_SIZES: "${name}" is given twice`);
    sizes.set(name, Number(size));
  }
  return sizes;
}

/** Checks the PgBouncer admin console URL without ever echoing it (it may hold a password). */
export function checkPgbouncerUrl(url: string | undefined, problems: string[]): string | undefined {
  if (url === undefined || url === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    problems.push('PGVIGIL_PGBOUNCER_URL: not a valid URL (expected postgres://user:password@host:6432/pgbouncer)');
    return undefined;
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    problems.push('PGVIGIL_PGBOUNCER_URL: must start with postgres:// or postgresql://');
    return undefined;
  }
  if (decodeURIComponent(parsed.pathname.slice(1)) !== 'pgbouncer') {
    problems.push('PGVIGIL_PGBOUNCER_URL: must name the admin console database, /pgbouncer');
    return undefined;
  }
  return url;
}

/** client_pools' variable: the pool size each application instance is expected to use. */
export const expectedPoolSizesSettings: SettingsSpec<{ readonly expectedPoolSizes: ReadonlyMap<string, number> }> = {
  variables: {
    PGVIGIL_EXPECTED_POOL_SIZES: Type.String({
      default: '',
      description:
        'Client pool size per application_name, e.g. "heliotrope_imaginal=20,admin=5" (client_pools utilization)',
    }),
  },
  resolve: (values, _env, problems) => ({
    expectedPoolSizes: parseExpectedPoolSizes(
      (values.PGVIGIL_EXPECTED_POOL_SIZES as string | undefined) ?? '',
      problems,
    ),
  }),
};

/** pgbouncer's variables: its admin console URL (a secret: never logged), directly or from a file. */
export const pgbouncerSettings: SettingsSpec<{ readonly url: string | undefined }> = {
  variables: {
    PGVIGIL_PGBOUNCER_URL: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'PgBouncer admin console URL (postgres://user:pw@host:6432/pgbouncer); enables the pgbouncer collector',
      }),
    ),
    PGVIGIL_PGBOUNCER_URL_FILE: Type.Optional(
      Type.String({ minLength: 1, description: 'File holding PGVIGIL_PGBOUNCER_URL' }),
    ),
  },
  resolve: (_values, env, problems) => ({
    url: checkPgbouncerUrl(readSecretFile(env, 'PGVIGIL_PGBOUNCER_URL', problems), problems),
  }),
};
