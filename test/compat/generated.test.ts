import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parse, stringify } from 'yaml';
// @ts-expect-error: plain JavaScript module without types (run by node directly)
import { prometheusRuleFile, rulesFile } from '../../deploy/compat/generate.mjs';
// @ts-expect-error: plain JavaScript module without types (run by node directly)
import { COMPAT_FAMILIES } from '../../deploy/compat/mapping.mjs';

// The compatibility rules, their PrometheusRule and the migration page's table are generated from
// one mapping: they must not drift from it, must load in Prometheus, and may only read families
// pgvigil really emits (the golden file).

interface CompatFamily {
  name: string;
  from: string[];
  kind: string;
  expr?: string;
}
const families = COMPAT_FAMILIES as CompatFamily[];
const root = join(import.meta.dirname, '..', '..');

t.test('rules, PrometheusRule and the migration table match the mapping', async (t) => {
  const r = spawnSync(process.execPath, [join(root, 'deploy', 'compat', 'generate.mjs'), '--check'], {
    encoding: 'utf8',
  });
  t.equal(r.status, 0, r.stderr || r.stdout);
});

t.test('promtool check rules accepts the rules and the PrometheusRule groups', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-compat-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fromOperator = join(dir, 'from-prometheusrule.yml');
  writeFileSync(fromOperator, stringify({ groups: parse(readFileSync(prometheusRuleFile, 'utf8')).spec.groups }));
  for (const file of [rulesFile, fromOperator]) {
    const r = spawnSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
    t.equal(r.status, 0, `${file}: ${r.stdout}${r.stderr}`);
  }
  const rules = parse(readFileSync(rulesFile, 'utf8')).groups.flatMap((g: { rules: { record: string }[] }) => g.rules);
  t.same(
    rules.map((x: { record: string }) => x.record),
    families.filter((f) => f.kind !== 'same').map((f) => f.name),
    'one rule per family pgvigil does not emit under that name',
  );
});

t.test('every family a rule reads is one pgvigil emits; no rule records a pgvigil name', async (t) => {
  const golden = JSON.parse(readFileSync(join(root, 'test', 'golden', 'families.json'), 'utf8')) as { name: string }[];
  const emitted = new Set(golden.map((f) => f.name));
  for (const f of families) {
    for (const source of f.from) t.ok(emitted.has(source), `${f.name}: ${source} is emitted by pgvigil`);
    if (f.kind === 'same') t.ok(emitted.has(f.name), `${f.name} is emitted by pgvigil under that name`);
    else t.notOk(emitted.has(f.name), `${f.name} is not a pgvigil family (a rule would clash with it)`);
    for (const name of f.expr?.match(/\bpg[a-z_]*\b/g) ?? []) {
      if (name !== f.name) t.ok(f.from.includes(name), `${f.name}: ${name} in its expression is listed in from`);
    }
  }
});
