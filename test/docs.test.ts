import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import t from 'tap';
import { docsInputs, GENERATED_DOCS, renderDoc, repoRoot } from '../src/dev/update-docs.js';

// The documents a newcomer reads must stay true as the code moves: the generated references match
// their inputs, and every metric, variable, npm script and relative link the prose names exists.

const DOCUMENTS = [
  'README.md',
  'docs/metrics.md',
  'docs/configuration.md',
  'docs/development.md',
  'bench/README.md',
  'deploy/README.md',
  'docs/changelog.md',
];
const read = (path: string) => readFileSync(join(repoRoot, path), 'utf8');

// PostgreSQL's own names (views, functions, roles, settings) that share a metric prefix.
const POSTGRES_NAMES = new Set([
  'pg_blocking_pids',
  'pg_class',
  'pg_database_size',
  'pg_extension',
  'pg_index',
  'pg_locks',
  'pg_ls_waldir',
  'pg_monitor',
  'pg_read_all_data',
  'pg_read_all_stats',
  'pg_settings',
  'pg_stat_activity',
  'pg_stat_bgwriter',
  'pg_stat_checkpointer',
  'pg_stat_database',
  'pg_stat_io',
  'pg_stat_replication',
  'pg_stat_statements',
  'pg_stat_statements_reset',
  'pg_stat_user_indexes',
  'pg_stat_user_tables',
  'pg_stat_wal',
  'pg_stat_wal_receiver',
  'pg_terminate_backend',
  'pg_wait_sampling',
  'pg_statio_user_indexes',
  'pg_statio_user_tables',
  'pg_stats',
  'pg_stat_statements_info',
  'pg_stat_archiver',
  'pg_replication_slots',
]);

// Families of other majors than the golden file's PostgreSQL 15 server, which the prose names.
const OTHER_MAJORS = new Set(['pg_settings_reserved_connections']);

/**
 * Words inside `code spans` of the hand-written text that look like metric family names. Generated
 * sections (checked against their inputs above), wildcards, <placeholders>, function calls and
 * `name=value` arguments are left out.
 */
function metricNamesIn(text: string): string[] {
  const prose = text.replace(/<!-- ([\w-]+):start -->[\s\S]*?<!-- \1:end -->/g, '');
  const spans = [...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return spans.flatMap((s) =>
    [...s.matchAll(/(?<![\w*<>])(?:pg|pgvigil|pgbouncer|nodejs|process)_[a-z0-9_]+(?![\w*<>(=])/g)].map((m) => m[0]),
  );
}

t.test('generated references match the config schema and the golden family list', async (t) => {
  const inputs = docsInputs();
  for (const doc of GENERATED_DOCS) {
    const text = read(doc.path);
    t.equal(text, renderDoc(doc, text, inputs), `${doc.path} is up to date (run \`npm run docs\`)`);
  }
});

t.test('README is a door: set-up commands first, under 250 lines, and the sections the lead fills', async (t) => {
  const readme = read('README.md');
  t.match(readme, /npm ci && npm run demo/);
  t.match(readme, /npm test/);
  t.ok(readme.split('\n').length < 250, `README.md has ${readme.split('\n').length} lines (< 250)`);
  t.match(readme, /^## Latency objectives$/m);
  t.match(readme, /^## Changelog$/m);
  t.match(read('docs/changelog.md'), /^## Unreleased$/m);
});

t.test('every metric the documents name is one pgvigil emits', async (t) => {
  const families = new Set(docsInputs().families.map((f) => f.name));
  const known = (name: string) =>
    families.has(name) ||
    families.has(name.replace(/_(bucket|sum|count)$/, '')) ||
    POSTGRES_NAMES.has(name) ||
    OTHER_MAJORS.has(name);
  for (const path of DOCUMENTS) {
    const unknown = [...new Set(metricNamesIn(read(path)))].filter((n) => !known(n));
    t.same(unknown, [], `${path}: names only emitted families (or PostgreSQL objects listed in this test)`);
  }
});

t.test('every variable the documents name is read by pgvigil or its tooling', async (t) => {
  const schema = new Set(Object.keys(docsInputs().schema.properties));
  const sources = ['src', 'test', 'bench', 'deploy']
    .flatMap((dir) => readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)))
    .filter((f) => /\.(ts|mjs|yml|yaml|sh|sql)$/.test(f))
    .concat('.ci/run', 'Dockerfile')
    .map(read)
    .join('\n');
  for (const path of DOCUMENTS) {
    const names = new Set(read(path).match(/\b(PGVIGIL_[A-Z0-9_]*[A-Z0-9]|DATABASE_URL(?:_FILE)?)\b/g) ?? []);
    const unknown = [...names].filter((n) => !schema.has(n) && !sources.includes(n));
    t.same(unknown, [], `${path}: every variable is in the config schema or read by a script or deploy file`);
  }
});

t.test('every `npm run` script and relative link in the documents exists', async (t) => {
  const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
  for (const path of DOCUMENTS) {
    const text = read(path);
    for (const [, script] of text.matchAll(/npm run ([\w:-]+)/g)) {
      t.ok(scripts[script!], `${path}: npm run ${script} exists`);
    }
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      t.ok(existsSync(resolve(dirname(join(repoRoot, path)), target!)), `${path}: link ${target} exists`);
    }
  }
});

t.test('no comment or document points at something outside the repository', async (t) => {
  // A maintainer can open neither another project's notes nor an issue tracker's numbering: the
  // fact a comment relies on is written where it is used.
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: repoRoot, encoding: 'utf8' })
    .split('\0')
    .filter((path) => path !== '' && path !== 'package-lock.json' && existsSync(join(repoRoot, path)))
    .filter((path) => /\.(ts|mjs|js|md|ya?ml|json|sh|sql)$|^\.ci\/|^Dockerfile$/.test(path));
  const outside = /FIELD-NOTES|STYLE\.md|\.\.\/shared\/|\b(issue|task)s? #[0-9]+/i;
  // This file names the patterns it looks for.
  const found = files.filter((path) => path !== 'test/docs.test.ts' && outside.test(read(path)));
  t.same(found, [], 'no notes of other projects, no issue numbers');
});
