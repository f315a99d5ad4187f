import { parseQueryClasses } from 'pgvigil-pool/classes';
import t from 'tap';
import { renderFamilyText } from '../../src/exposition/render.js';
import {
  classObjectiveFamilies,
  leSpellings,
  prometheusFloatLabel,
} from '../../src/statements/class-objective-families.js';
import { bucketBounds } from '../../src/statements/histogram.js';

// The series the SLO rules join with the class histograms. The `le` spellings are checked
// against what Prometheus 3 stores for a bucket bound (Go's strconv.FormatFloat(f, 'g', -1, 64),
// ".0" added to whole numbers), written out here from that format's rules.

t.test('the float form Prometheus 3 gives bucket bounds', async (t) => {
  const cases: [number, string][] = [
    [1, '1.0'],
    [30, '30.0'],
    [3600, '3600.0'],
    [0.05, '0.05'],
    [0.0005, '0.0005'],
    [0.0001, '0.0001'],
    [0.00005, '5e-05'],
    [0.0000015, '1.5e-06'],
    [2.5, '2.5'],
    [100000, '100000.0'],
    [1000000, '1e+06'],
    [1234567, '1.234567e+06'],
    [Infinity, '+Inf'],
  ];
  for (const [value, expected] of cases) t.equal(prometheusFloatLabel(value), expected, `${value}`);
  t.same(leSpellings(1), ['1', '1.0'], 'a whole number has two spellings');
  t.same(leSpellings(0.05), ['0.05'], 'a decimal fraction has one');
  t.same(leSpellings(0.00005), ['0.00005', '5e-05']);
});

t.test('objective, target and the bucket at the objective, per class', async (t) => {
  const { classes, problems } = parseQueryClasses(
    [
      'classes:',
      '  - name: login',
      '    objective_seconds: 0.05',
      '    target: 0.999',
      '    match: {query: login}',
      '  - name: report',
      '    objective_seconds: 1',
      '    match: {query: report}',
      '',
    ].join('\n'),
    'classes.yml',
  );
  t.same(problems, []);
  const bounds = bucketBounds(classes.map((c) => c.objectiveSeconds));
  const families = classObjectiveFamilies(classes, bounds);
  const text = families.map((f) => renderFamilyText(f, 'prometheus')).join('');
  t.match(text, 'pg_statement_class_objective_seconds{class="login"} 0.05\n');
  t.match(text, 'pg_statement_class_objective_seconds{class="report"} 1\n');
  t.match(text, 'pg_statement_class_target_ratio{class="login"} 0.999\n');
  t.match(text, 'pg_statement_class_target_ratio{class="report"} 0.99\n', 'the default target');
  const info = text.split('\n').filter((l) => l.startsWith('pg_statement_class_objective_info{'));
  t.same(info, [
    'pg_statement_class_objective_info{class="login",objective_le="0.05"} 1',
    'pg_statement_class_objective_info{class="report",objective_le="1"} 1',
    'pg_statement_class_objective_info{class="report",objective_le="1.0"} 1',
  ]);
  // Each class's exposed spelling is the le of a bucket of the class histogram as rendered.
  const histogram = renderFamilyText(
    {
      type: 'histogram',
      name: 'h',
      help: 'h',
      bounds,
      samples: [{ labels: {}, buckets: bounds.map(() => 0), sum: 0, count: 0 }],
    },
    'prometheus',
  );
  for (const le of ['0.05', '1']) t.match(histogram, `h_bucket{le="${le}"} 0`, `the histogram has le="${le}"`);
  t.throws(() => classObjectiveFamilies(classes, [0.1, 1]), /login: objective 0.05 s is not a bucket bound/);
});
