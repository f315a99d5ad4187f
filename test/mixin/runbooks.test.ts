import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../helpers/mixin.js';
import { testPostgres } from '../helpers/postgres.js';

// The runbooks' "how to confirm" SQL is what on-call pastes at 3 a.m.: every ```sql block must run
// on a real PostgreSQL (placeholders such as '<relname>' filled with a dummy value). Blocks for the
// PgBouncer console are marked ```sql pgbouncer and left out.

const runbook = readFileSync(join(repoRoot, 'docs/runbooks.md'), 'utf8');
const blocks = [...runbook.matchAll(/^```sql\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);

t.test('every SQL block of docs/runbooks.md runs', async (t) => {
  t.ok(blocks.length >= 20, `${blocks.length} blocks`);
  const pg = await testPostgres(t);
  await pg.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  for (const block of blocks) {
    const sql = block.replace(/<([^<>]*[a-z][^<>]*)>/g, 'placeholder');
    for (const statement of sql
      .split(/;\s*(?:--[^\n]*)?\n/)
      .map((s) => s.trim())
      .filter(Boolean)) {
      await t.resolves(pg.sql(statement), statement.split('\n')[0]!);
    }
  }
});
