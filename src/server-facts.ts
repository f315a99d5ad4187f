import type { Client } from 'pg';

/**
 * What a collector may depend on, read once per connection (connections are per database, and
 * extensions are per database). Collectors decide columns from these facts, never by trying.
 */
export interface ServerFacts {
  readonly serverVersionNum: number;
  readonly major: number;
  readonly inRecovery: boolean;
  readonly datname: string;
  readonly user: string;
  readonly isSuperuser: boolean;
  /** Member of pg_monitor (or superuser): may read every row of pg_stat_activity, pg_ls_waldir ... */
  readonly hasPgMonitor: boolean;
  /** May run pg_ls_waldir() (pg_monitor may; many managed services revoke it). */
  readonly canListWalDir: boolean;
  /** Extensions installed in this database: name → extversion (e.g. pg_stat_statements → 1.10). */
  readonly extensions: ReadonlyMap<string, string>;
  /** Whether pg_stat_statements is loaded (shared_preload_libraries), independent of CREATE EXTENSION. */
  readonly statementsPreloaded: boolean;
}

const FACTS_SQL = `
SELECT current_setting('server_version_num')::int AS server_version_num,
       pg_is_in_recovery() AS in_recovery,
       current_database() AS datname,
       current_user AS usename,
       r.rolsuper AS is_superuser,
       r.rolsuper OR pg_has_role(current_user, 'pg_monitor', 'MEMBER') AS has_pg_monitor,
       has_function_privilege('pg_ls_waldir()', 'EXECUTE') AS can_list_waldir,
       COALESCE((SELECT json_object_agg(extname, extversion) FROM pg_extension), '{}'::json) AS extensions,
       -- shared_preload_libraries is readable only with pg_read_all_settings (pg_monitor has it);
       -- without it, the GUCs pg_stat_statements defines only when preloaded tell the same.
       CASE WHEN r.rolsuper OR pg_has_role(current_user, 'pg_read_all_settings', 'MEMBER')
            THEN current_setting('shared_preload_libraries') ~ '(^|[ ,])pg_stat_statements($|[ ,])'
            ELSE EXISTS (SELECT 1 FROM pg_settings WHERE name = 'pg_stat_statements.max')
       END AS statements_preloaded
FROM pg_roles r WHERE r.rolname = current_user`;

interface FactsRow {
  server_version_num: number;
  in_recovery: boolean;
  datname: string;
  usename: string;
  is_superuser: boolean;
  has_pg_monitor: boolean;
  can_list_waldir: boolean;
  extensions: Record<string, string>;
  statements_preloaded: boolean;
}

export async function readServerFacts(client: Pick<Client, 'query'>): Promise<ServerFacts> {
  const { rows } = await client.query<FactsRow>(FACTS_SQL);
  const row = rows[0];
  if (row === undefined) throw new Error('server facts query returned no row (current_user missing from pg_roles?)');
  return {
    serverVersionNum: row.server_version_num,
    major: Math.floor(row.server_version_num / 10000),
    inRecovery: row.in_recovery,
    datname: row.datname,
    user: row.usename,
    isSuperuser: row.is_superuser,
    hasPgMonitor: row.has_pg_monitor,
    canListWalDir: row.can_list_waldir,
    extensions: new Map(Object.entries(row.extensions)),
    statementsPreloaded: row.statements_preloaded,
  };
}

/** Compares dotted versions such as extension versions ("1.10" > "1.9"). */
export function versionAtLeast(version: string | undefined, minimum: string): boolean {
  if (version === undefined) return false;
  const a = version.split('.').map(Number);
  const b = minimum.split('.').map(Number);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}
