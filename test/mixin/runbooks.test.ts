import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { allRules, repoRoot } from '../helpers/mixin.js';
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

// On-call needs somewhere to start: each alert's section gives at least the first three commands
// to run (SQL statements, console commands, or shell lines), in code blocks.
t.test('every alert has a runbook section with at least three commands', async (t) => {
  const sections = new Map(
    [...runbook.matchAll(/^### (\S+)\n([\s\S]*?)(?=^### |^## |^---$|(?![\s\S]))/gm)].map((m) => [m[1]!, m[2]!]),
  );
  const alertNames = new Set(allRules().flatMap((r) => (r.alert !== undefined ? [r.alert] : [])));
  for (const name of alertNames) {
    const section = sections.get(name) ?? '';
    const commands = [...section.matchAll(/^```(\w+)[^\n]*\n([\s\S]*?)^```$/gm)].flatMap(([, lang, body]) =>
      lang === 'sql'
        ? body!.split(/;\s*(?:--[^\n]*)?\n/).filter((s) => s.trim() !== '')
        : body!.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#')),
    );
    t.ok(commands.length >= 3, `${name}: ${commands.length} commands in docs/runbooks.md`);
  }
});
