import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CollectorDefinitionError, checkCollectorSet } from '../../src/collectors/check-definition.js';
import type { CollectorSpec } from '../../src/collectors/collector-spec.js';
import { type DefinedCollector, defineCollector, query } from '../../src/collectors/define.js';
import { collectorDefinitions } from '../../src/collectors/index.js';
import { GOLDEN_PATH, type GoldenFamily, repoRoot } from '../../src/dev/update-docs.js';
import type { ServerFacts } from '../../src/server-facts.js';

// The collector definitions as data: every one passes the load-time checks, the checks reject
// what they should, plans are made from server facts, and every family a user sees is written
// out in full in exactly one place in src/ (so a grep of the name finds its definition).

const defined = collectorDefinitions.filter((d): d is DefinedCollector => 'spec' in d);

const facts = (major: number, extra: Partial<ServerFacts> = {}): ServerFacts => ({
  serverVersionNum: major * 10000,
  major,
  inRecovery: false,
  datname: 'postgres',
  user: 'pgvigil',
  isSuperuser: false,
  hasPgMonitor: true,
  canListWalDir: true,
  extensions: new Map(),
  statementsPreloaded: false,
  ...extra,
});

t.test('every collector is defined as data, and the set is consistent', async (t) => {
  t.same(
    collectorDefinitions.filter((d) => !('spec' in d)).map((d) => d.name),
    [],
    'no collector is hand-written',
  );
  t.doesNotThrow(() => checkCollectorSet(collectorDefinitions));
  for (const d of defined) t.ok(d.familyNames.length > 0, `${d.name} declares its families`);
});

const good: CollectorSpec = {
  name: 'sample',
  description: 'a test collector',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  queries: [
    query({
      sql: [{ sql: 'SELECT 1' }],
      columns: { datname: 'text', n: 'float' },
      metrics: [{ name: 'pg_sample_things_total', type: 'counter', help: 'Things.', labels: ['datname'], value: 'n' }],
    }),
  ],
};

t.test('bad definitions fail when they are defined, naming the problem', async (t) => {
  t.doesNotThrow(() => defineCollector(good));
  type Metric = Record<string, unknown>;
  const withMetric = (m: Metric, q: Record<string, unknown> = {}): CollectorSpec => ({
    ...good,
    queries: [{ ...good.queries[0]!, ...q, metrics: [{ ...good.queries[0]!.metrics![0]!, ...m }] }],
  });
  const withQuery = (q: Record<string, unknown>): CollectorSpec => ({
    ...good,
    queries: [{ ...good.queries[0]!, ...q }],
  });
  const withBuilt = (family: Record<string, unknown>): CollectorSpec =>
    withQuery({ metrics: undefined, built: { families: [{ help: 'Built.', ...family }], build: () => [] } });
  const cases: [string, CollectorSpec, RegExp][] = [
    ['illegal name', withMetric({ name: 'pg_sample-things_total' }), /invalid metric name/],
    ['_total on a gauge', withMetric({ type: 'gauge' }), /_total is reserved for counters/],
    ['counter without _total', withMetric({ name: 'pg_sample_things' }), /must end in _total/],
    ['unit missing', withMetric({ name: 'pg_sample_wait_seconds_total' }), /unit \(none\) does not match/],
    ['non-base unit', withMetric({ name: 'pg_sample_wait_milliseconds_total' }), /base units/],
    ['label column not in the row', withMetric({ labels: ['relname'] }), /label column relname is not a text column/],
    ['numeric label column', withMetric({ labels: ['n'] }), /label column n is not a text column/],
    ['value column not numeric', withMetric({ value: 'datname' }), /value column datname is not a numeric column/],
    ['outside the subsystem', withMetric({ name: 'pg_other_things_total' }), /outside its subsystems pg_sample/],
    ['datname twice', withMetric({}, { datnameLabel: true }), /a label appears twice/],
    [
      'overlapping SQL variants',
      withMetric(
        {},
        {
          sql: [
            { sql: 'a', server: { from: 14 } },
            { sql: 'b', server: { from: 16 } },
          ],
        },
      ),
      /2 SQL variants apply to PostgreSQL 16/,
    ],
    [
      'overlapping privilege variants',
      withMetric({}, { sql: [{ sql: 'a', privilege: { pg_monitor: true } }, { sql: 'b' }] }),
      /2 SQL variants apply/,
    ],
    [
      'overlapping extension variants',
      withMetric(
        {},
        {
          sql: [
            { sql: 'a', extension: { name: 'pg_stat_statements', from: '1.8' } },
            { sql: 'b', extension: { name: 'pg_stat_statements', before: '1.11' } },
          ],
        },
      ),
      /2 SQL variants apply .*pg_stat_statements/,
    ],
    [
      'the same family twice',
      { ...good, queries: [good.queries[0]!, good.queries[0]!] },
      /family pg_sample_things_total is defined twice/,
    ],
    ['other prefixes without a reason', { ...good, subsystems: ['pg_other'] }, /give namesReason/],
    [
      'a settings variable outside PGVIGIL_',
      { ...good, settings: { variables: { SAMPLE: {} as never }, resolve: () => ({}) } },
      /PGVIGIL_/,
    ],
    ['neither metrics nor built', withQuery({ metrics: undefined }), /needs either metrics or built/],
    ['both metrics and built', withMetric({}, { built: { families: [], build: () => [] } }), /either metrics or built/],
    ['a built counter without _total', withBuilt({ name: 'pg_sample_built', type: 'counter' }), /must end in _total/],
    ['a built histogram without its unit', withBuilt({ name: 'pg_sample_wait_seconds', type: 'histogram' }), /unit/],
    [
      'a built family outside the subsystem',
      withBuilt({ name: 'pg_other_built', type: 'gauge' }),
      /outside its subsystems/,
    ],
    [
      'overlapping companion variants',
      withMetric(
        {},
        {
          run: () => [],
          companionSql: { info: [{ sql: 'a', extension: { name: 'ext', from: '1.9' } }, { sql: 'b' }] },
        },
      ),
      /2 info variants apply .*ext/,
    ],
    [
      'companion SQL without run',
      withMetric({}, { companionSql: { info: [{ sql: 'a' }] } }),
      /companion SQL but no run/,
    ],
  ];
  for (const [what, spec, message] of cases) {
    t.throws(() => defineCollector(spec), message, what);
    t.throws(() => defineCollector(spec), CollectorDefinitionError, `${what}: a CollectorDefinitionError`);
  }
  const twice = defineCollector(good);
  t.throws(
    () => checkCollectorSet([twice, { ...twice, name: 'other' }]),
    /pg_sample_things_total is also defined by sample/,
  );
});

t.test('the plan comes from the server facts: SQL variant, families, or not applicable', async (t) => {
  const byName = new Map(defined.map((d) => [d.name, d]));
  const statIo = byName.get('stat_io')!;
  t.match(statIo.notApplicable?.(facts(15)), /no variant for PostgreSQL 15 \(variants for: 16–17, 18\+\)/);
  t.equal(statIo.notApplicable?.(facts(16)), undefined);
  t.equal(byName.get('stat_wal')!.notApplicable?.(facts(14)), undefined);
  t.match(byName.get('stat_wal')!.notApplicable?.(facts(13)), /PostgreSQL 13/);
  t.equal(
    byName.get('wal')!.notApplicable?.(facts(13, { canListWalDir: false })),
    undefined,
    'estimated without pg_ls_waldir',
  );
  t.equal(byName.get('volume')!.notApplicable, undefined, 'needs no server facts');

  // Which SQL runs is decided from the facts object once, not on every poll.
  const seen: string[] = [];
  const collector = byName.get('checkpointer')!.create({ collectorSettings: new Map() } as never, undefined as never);
  const once = facts(17);
  const ctx = (f: ServerFacts) => ({
    query: async <Row>(sql: string) => {
      seen.push(sql.includes('pg_stat_checkpointer') ? 'checkpointer' : 'bgwriter');
      const row = {
        timed: 1,
        requested: 2,
        write_seconds: 0,
        sync_seconds: 0,
        buffers_written: 3,
        restartpoints_timed: null,
        restartpoints_requested: null,
        restartpoints_done: null,
      };
      return [row] as Row[];
    },
    facts: f,
    datname: 'postgres',
    log: undefined as never,
    now: 0,
  });
  await collector.collect(ctx(once));
  await collector.collect(ctx(once));
  await collector.collect(ctx(facts(16)));
  t.same(seen, ['checkpointer', 'checkpointer', 'bgwriter'], 'pg_stat_checkpointer from 17, pg_stat_bgwriter before');
  await t.rejects(
    collector.collect({ ...ctx(once), query: async <Row>() => [{ timed: '1' }] as Row[] }),
    /column timed should be float, the query returned string/,
    'a row of another shape fails loudly',
  );
});

t.test('a query hands its rows to code that builds declared families, with companion SQL planned once', async (t) => {
  const seen: { sql: string | undefined; info: string | undefined }[] = [];
  let emit = 'pg_sample_built_rows';
  const built = defineCollector({
    name: 'sample',
    description: 'a collector whose families code builds',
    scope: 'cluster',
    defaultIntervalSeconds: 10,
    queries: [
      query({
        sql: [
          { sql: 'old', extension: { name: 'ext', before: '1.9' } },
          { sql: 'new', extension: { name: 'ext', from: '1.9' } },
        ],
        companionSql: { info: [{ sql: 'info', extension: { name: 'ext', from: '1.9' } }] },
        columns: { n: 'float', flag: 'bool?' },
        run: (_input, sql, companions) => {
          seen.push({ sql, info: companions.info });
          return [{ n: 2, flag: null }];
        },
        built: {
          families: [{ name: 'pg_sample_built_rows', type: 'gauge', help: 'Rows seen.' }],
          build: (_input, rows) => [
            { type: 'gauge' as const, name: emit, help: 'Rows seen.', samples: [{ labels: {}, value: rows[0]!.n }] },
          ],
        },
      }),
    ],
  });
  t.same(built.familyNames, ['pg_sample_built_rows'], "declared built families are the collector's families");
  t.match(built.notApplicable?.(facts(17)), /no variant/, 'no extension: no variant of the main read');
  const collector = built.create({ collectorSettings: new Map() } as never, undefined as never);
  const ctx = (f: ServerFacts) => ({
    query: async () => [],
    facts: f,
    datname: 'postgres',
    log: undefined as never,
    now: 0,
  });
  const v18 = facts(13, { extensions: new Map([['ext', '1.8']]) });
  const v111 = facts(17, { extensions: new Map([['ext', '1.11']]) });
  const families = await collector.collect(ctx(v18));
  t.same(
    families.map((f) => f.name),
    ['pg_sample_built_rows'],
  );
  await collector.collect(ctx(v111));
  t.same(
    seen,
    [
      { sql: 'old', info: undefined },
      { sql: 'new', info: 'info' },
    ],
    'a companion absent before 1.9 is undefined',
  );
  emit = 'pg_sample_undeclared';
  await t.rejects(collector.collect(ctx(v111)), /built family pg_sample_undeclared is not declared/);

  const statements = defined.find((d) => d.name === 'statements')!;
  const preloaded = (extensions: [string, string][]) =>
    facts(17, { statementsPreloaded: true, extensions: new Map(extensions) });
  t.match(statements.notApplicable?.(facts(17)), /not in shared_preload_libraries/);
  t.match(statements.notApplicable?.(preloaded([])), /not created in database postgres/);
  for (const version of ['1.7', '1.8', '1.9', '1.10', '1.11', '1.12']) {
    t.equal(
      statements.notApplicable?.(preloaded([['pg_stat_statements', version]])),
      undefined,
      `extension ${version}`,
    );
  }
});

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Where a family name is written out as a string literal of its own in the given sources. */
export function definitionsOf(name: string, sources: ReadonlyMap<string, string>): string[] {
  const literal = new RegExp(`['"\`]${name}['"\`]`, 'g');
  return [...sources].flatMap(([path, text]) => (text.match(literal) ?? []).map(() => path));
}

t.test('every family in the golden file is written out in full in exactly one place in the sources', async (t) => {
  const golden = JSON.parse(readFileSync(GOLDEN_PATH, 'utf8')) as GoldenFamily[];
  // The exporter (src/) and the application-side package (packages/pool/src/) together.
  const files = [...sourceFiles(join(repoRoot, 'src')), ...sourceFiles(join(repoRoot, 'packages', 'pool', 'src'))];
  const sources = new Map(files.map((p) => [p, readFileSync(p, 'utf8')]));
  // prom-client's default process and Node.js metrics are defined in prom-client, not here.
  const ours = golden.filter((f) => !/^(nodejs|process)_/.test(f.name));
  t.ok(ours.length > 250, `${ours.length} families checked`);
  for (const f of ours) t.equal(definitionsOf(f.name, sources).length, 1, `${f.name}: one definition`);

  // A family hidden behind a template is not found, and a second definition is.
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the source text of a template literal, read as data
  const templated = new Map([['a.ts', "const I = 'pg_stat_user_indexes'; const n = `${I}_idx_scan_total`;"]]);
  t.equal(definitionsOf('pg_stat_user_indexes_idx_scan_total', templated).length, 0, 'a template name is not found');
  t.equal(
    definitionsOf(
      'pg_locks',
      new Map([
        ['a.ts', "'pg_locks'"],
        ['b.ts', "name: 'pg_locks'"],
      ]),
    ).length,
    2,
  );

  // The golden owners agree with the definitions.
  for (const d of defined) {
    for (const f of golden.filter((g) => g.collector === d.name))
      t.ok(d.familyNames.includes(f.name), `${f.name} is defined by ${d.name}`);
  }
});
