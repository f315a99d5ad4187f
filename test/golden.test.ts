import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import t from 'tap';
import { DEFAULT_MAJOR } from '../src/dev/local-cluster.js';
import { GOLDEN_PATH, type GoldenFamily } from '../src/dev/update-docs.js';
import { emittedFamilies } from './helpers/emitted-families.js';
import { GOLDEN_MAJORS, readMajorGolden } from './helpers/golden-majors.js';

// The golden list: every family pgvigil exports — from a real primary, a streaming standby,
// PgBouncer and an instrumented client pool (helpers/emitted-families.ts) — with TYPE, HELP,
// label names, owning collector and where it shows. A change to any of them must be deliberate:
//   npm run golden && npm run docs
// (npm run golden also rewrites the per-major files, test/golden/pg<major>.json, from
// test/version-matrix.test.ts).
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
    const strip = (f: GoldenFamily) => ({
      name: f.name,
      type: f.type,
      help: f.help,
      collector: f.collector,
      where: f.where,
    });
    if (!emitted.pgbouncer) {
      // PgBouncer not installed here: its families cannot be seen; everything else must match.
      golden.splice(0, golden.length, ...golden.filter((f) => f.collector !== 'pgbouncer'));
    }
    t.same(
      families.map(strip),
      golden.map(strip),
      'names, types, HELP, owners match the golden file (UPDATE_GOLDEN=1 to refresh)',
    );
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

t.test('the per-major golden files agree with families.json', async (t) => {
  const golden = new Map((JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[]).map((f) => [f.name, f]));
  for (const major of GOLDEN_MAJORS) {
    const families = readMajorGolden(major)?.families ?? [];
    t.ok(families.length > 0, `test/golden/pg${major}.json lists families`);
    const typeClash = families.filter((f) => golden.has(f.name) && golden.get(f.name)!.type !== f.type);
    t.same(
      typeClash.map((f) => f.name),
      [],
      `pg${major}.json: every type as in families.json`,
    );
    // families.json is made on the default major: that major's families are all in it.
    if (major === DEFAULT_MAJOR) {
      t.same(
        families.filter((f) => !golden.has(f.name)).map((f) => f.name),
        [],
        `pg${major}.json ⊆ families.json`,
      );
    }
  }
});
