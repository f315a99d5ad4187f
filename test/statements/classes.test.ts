import { readFileSync } from 'node:fs';
import { classify, parseQueryClasses, tablesTouched } from 'pgvigil-pool/classes';
import t from 'tap';
import { ConfigError, loadConfig } from '../../src/pgvigil-config.js';

const demo = parseQueryClasses(readFileSync('deploy/examples/query-classes.yaml', 'utf8'), 'query-classes.yaml');

t.test('the demo classes parse and match the demo workload', async (t) => {
  t.same(demo.problems, []);
  t.same(
    demo.classes.map((c) => [c.name, c.objectiveSeconds]),
    [
      ['login', 0.05],
      ['workshop', 0.1],
      ['navigation', 0.03],
      ['admin', 0.2],
    ],
  );
  const cls = (text: string) => classify(demo.classes, { text, datname: 'app', usename: 'web' })?.name ?? 'other';
  t.equal(cls('SELECT id, password_hash FROM users WHERE username = $1'), 'login');
  t.equal(cls('SELECT id, password_hash FROM users WHERE email = $1'), 'login');
  t.equal(
    cls('SELECT step_id, data, updated_at FROM workshop_step_data WHERE user_id = $1 AND workshop_id = $2'),
    'workshop',
  );
  t.equal(
    cls(
      'UPDATE users SET navigation_progress = jsonb_set(navigation_progress, $3, to_jsonb($2::int)), ' +
        'last_login_at = now()\n WHERE id = $1',
    ),
    'navigation',
  );
  t.equal(
    cls(
      'SELECT a.assessment_type, date_trunc($1, a.completed_at) AS day, count(*) ' +
        'FROM user_assessments a JOIN users u ON u.id = a.user_id GROUP BY 1, 2',
    ),
    'admin',
  );
  t.equal(cls('SELECT pg_sleep($1)'), 'other');
  t.equal(cls('SELECT * FROM users WHERE id = $1'), 'other');
});

t.test('tables, databases and users rules', async (t) => {
  t.same([...tablesTouched('SELECT * FROM public.a x, "B" JOIN c ON true WHERE EXISTS (SELECT 1 FROM d)')].sort(), [
    'B',
    'a',
    'c',
    'd',
  ]);
  t.same([...tablesTouched('INSERT INTO s.t (a) VALUES ($1)')], ['t']);
  const { classes } = parseQueryClasses(
    'classes:\n  - name: web\n    objective_seconds: 1\n    match:\n      databases: [app]\n      users: [web]\n',
    'f.yaml',
  );
  t.equal(classify(classes, { text: 'SELECT 1', datname: 'app', usename: 'web' })?.name, 'web');
  t.equal(classify(classes, { text: 'SELECT 1', datname: 'app', usename: 'batch' }), undefined);
});

t.test('a target per class, 0.99 unless given', async (t) => {
  t.same(
    demo.classes.map((c) => c.target),
    [0.99, 0.99, 0.99, 0.99],
  );
  const parsed = (target: string) =>
    parseQueryClasses(`classes:\n  - name: web\n    objective_seconds: 1\n${target}    match: {query: x}\n`, 'c.yaml');
  t.equal(parsed('').classes[0]!.target, 0.99, 'default');
  t.equal(parsed('    target: 0.995\n').classes[0]!.target, 0.995);
  for (const bad of ['1', '0.3', 'high', '-0.9']) {
    t.match(
      parsed(`    target: ${bad}\n`).problems,
      [/^c\.yaml:4: classes\[0\]\.target: .*0\.5 <= target < 1/],
      `target ${bad} refused`,
    );
  }
});

t.test('malformed files name the line and field', async (t) => {
  const bad = (src: string) => parseQueryClasses(src, 'c.yaml').problems;
  t.match(bad('classes:\n  - name: login\n    objective_seconds: fast\n    match: {query: x}\n'), [
    /^c\.yaml:3: classes\[0\]\.objective_seconds: /,
  ]);
  t.match(bad('classes:\n  - name: login\n    objective_seconds: 1\n    match:\n      query: "("\n'), [
    /^c\.yaml:5: classes\[0\]\.match\.query: not a valid regular expression/,
  ]);
  t.match(bad('classes:\n  - name: a\n    objective_seconds: 1\n    match:\n      tabels: [x]\n'), [
    /c\.yaml:5: classes\[0\]\.match\.tabels: unknown rule/,
  ]);
  t.match(bad('classes:\n  - name: other\n    objective_seconds: 1\n    match: {query: x}\n'), [
    /classes\[0\]\.name: "other" is reserved/,
  ]);
  t.match(bad('classes: [\n'), [/^c\.yaml:\d+: /]);
  t.match(
    bad('{"classes": [{"name": "j", "objective_seconds": 0.1, "match": {"query": "^SELECT"}}]}'),
    [],
    'JSON works too',
  );
});

t.test('a malformed file stops startup with a ConfigError naming it', async (t) => {
  const dir = t.testdir({
    'bad.yaml': 'classes:\n  - name: login\n    objective_seconds: -1\n    match: {query: x}\n',
  });
  const err = (() => {
    try {
      loadConfig({ DATABASE_URL: 'postgres://u@h/db', PGVIGIL_QUERY_CLASSES_FILE: `${dir}/bad.yaml` });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.type(err, ConfigError);
  t.match((err as Error).message, /PGVIGIL_QUERY_CLASSES_FILE: .*bad\.yaml:3: classes\[0\]\.objective_seconds/);
  t.throws(
    () => loadConfig({ DATABASE_URL: 'postgres://u@h/db', PGVIGIL_QUERY_CLASSES_FILE: `${dir}/missing.yaml` }),
    /cannot read/,
  );
});
