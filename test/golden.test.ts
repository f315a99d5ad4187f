import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import t from 'tap';
import { GOLDEN_PATH, type GoldenFamily } from '../src/dev/update-docs.js';
import { emittedFamilies } from './helpers/emitted-families.js';

// The golden list: every family pgvigil exports — from a real primary, a streaming standby,
// PgBouncer and an instrumented client pool (helpers/emitted-families.ts) — with TYPE, HELP,
// label names, owning collector and where it shows. A change to any of them must be deliberate:
//   UPDATE_GOLDEN=1 npx tap test/golden.test.ts && npm run docs
// The README's metric reference and the mixin lint (alerts/, dashboards/) are built on this file.
// Label names are compared as "seen ⊆ golden": a family whose condition did not occur in a run
// (no autovacuum yet, say) has fewer labelled samples, never different ones.

t.test('exported families match test/golden/families.json and pass promtool', async (t) => {
  const emitted = await emittedFamilies(t);
  const families: GoldenFamily[] = [...emitted.types.entries()]
    .map(([name, type]) => ({
      name,
      type,
      help: emitted.help.get(name) ?? '',
      labels: [...(emitted.labels.get(name) ?? [])].sort(),
      collector: emitted.owners.get(name) ?? 'self',
      where: emitted.seenOn.get(name) ?? 'primary',
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
  for (const f of families) t.not(f.help, '', `${f.name} has HELP text`);

  if (process.env.UPDATE_GOLDEN === '1') {
    const previous: GoldenFamily[] = existsSync(GOLDEN_PATH) ? JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) : [];
    const merged = families.map((f) => {
      const old = previous.find((p) => p.name === f.name && p.type === f.type);
      return old === undefined ? f : { ...f, labels: [...new Set([...old.labels, ...f.labels])].sort() };
    });
    mkdirSync(dirname(GOLDEN_PATH), { recursive: true });
    writeFileSync(GOLDEN_PATH, `${JSON.stringify(merged, null, 2)}\n`);
    t.pass(`golden file written: ${merged.length} families`);
  } else {
    const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[];
    const strip = (f: GoldenFamily) => ({ name: f.name, type: f.type, help: f.help, collector: f.collector, where: f.where });
    if (!emitted.pgbouncer) {
      // PgBouncer not installed here: its families cannot be seen; everything else must match.
      golden.splice(0, golden.length, ...golden.filter((f) => f.collector !== 'pgbouncer'));
    }
    t.same(families.map(strip), golden.map(strip), 'names, types, HELP, owners match the golden file (UPDATE_GOLDEN=1 to refresh)');
    for (const f of families) {
      const g = golden.find((x) => x.name === f.name);
      const extra = f.labels.filter((l) => !g?.labels.includes(l));
      t.same(extra, [], `${f.name}: no label outside the golden list`);
    }
  }

  for (const text of emitted.texts) {
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if (promtool.error !== undefined) {
      t.ok(true, 'promtool check metrics', { skip: 'promtool not installed (apt-get install prometheus)' });
      break;
    }
    t.equal(`${promtool.stdout}${promtool.stderr}`, '', 'promtool check metrics prints nothing');
    t.equal(promtool.status, 0);
  }
});
