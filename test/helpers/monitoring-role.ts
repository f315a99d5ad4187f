import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestPostgres } from './postgres.js';

// Creates pgvigil's monitoring role with deploy/sql/pgvigil-role.sql, the script operators run.
// With psql (any local one: the npm builds ship none) the script runs exactly as documented;
// without it, its psql lines (\set, \if ...) are dropped and :'var' substituted, which is all the
// psql the script uses.

const SCRIPT = resolve(dirname(fileURLToPath(import.meta.url)), '../../deploy/sql/pgvigil-role.sql');

function findPsql(): string | undefined {
  for (const major of [18, 17, 16, 15, 14, 13]) {
    const bin = `/usr/lib/postgresql/${major}/bin/psql`;
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function createMonitoringRole(
  pg: TestPostgres,
  role: string,
  password: string,
  options: { withoutPsql?: boolean } = {},
): Promise<{ via: 'psql' | 'sql' }> {
  const vars = { pgvigil_role: role, pgvigil_password: password, pgvigil_connection_limit: '5' };
  const psql = options.withoutPsql ? undefined : findPsql();
  if (psql !== undefined) {
    const args = [
      '-X',
      '-q',
      '-d',
      pg.url,
      ...Object.entries(vars).flatMap(([k, v]) => ['-v', `${k}=${v}`]),
      '-f',
      SCRIPT,
    ];
    const res = spawnSync(psql, args, { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`psql -f pgvigil-role.sql failed: ${res.stderr}`);
    return { via: 'psql' };
  }
  const sql = readFileSync(SCRIPT, 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('\\'))
    .join('\n')
    .replace(/:'(\w+)'/g, (_, name: keyof typeof vars) => literal(vars[name]));
  await pg.sql(sql);
  return { via: 'sql' };
}
