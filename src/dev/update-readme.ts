import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configTable } from '../config-table.js';

// `npm run docs`: rewrites the generated sections of README.md — the configuration table (from
// the schema) and the metric reference (from test/golden/families.json, written by the golden
// test). test/readme.test.ts fails when either is out of date.

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = [resolve(here, '../..'), resolve(here, '../../..')].find((d) => existsSync(join(d, 'package.json')))!;

export const GOLDEN_PATH = join(repoRoot, 'test', 'golden', 'families.json');

export interface GoldenFamily {
  name: string;
  type: string;
  help: string;
  labels: string[];
  collector: string;
  /** Where the family shows: primary, standby (standby-only), or client pool (pgvigil/pool, in the application). */
  where: string;
}

export function metricsTable(families: readonly GoldenFamily[]): string {
  const rows = families.map(
    (f) =>
      `| \`${f.name}\` | ${f.type} | ${f.labels.map((l) => `\`${l}\``).join(', ')} | ${f.collector}${f.where === 'standby' ? ' (standby)' : ''} | ${f.help.replace(/\\n/g, ' ').replace(/\|/g, '\\|')} |`,
  );
  return ['| Metric | Type | Labels | Collector | Meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

export function replaceSection(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`README.md has no ${start} ... ${end} section`);
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
}

export function renderReadme(text: string): string {
  let out = replaceSection(text, 'config-table', configTable());
  if (existsSync(GOLDEN_PATH)) out = replaceSection(out, 'metrics-table', metricsTable(JSON.parse(readFileSync(GOLDEN_PATH, 'utf8'))));
  return out;
}

if (process.argv[1]?.endsWith('update-readme.js')) {
  const path = join(repoRoot, 'README.md');
  writeFileSync(path, renderReadme(readFileSync(path, 'utf8')));
  process.stdout.write('README.md updated\n');
}
