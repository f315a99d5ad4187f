import { redactSql, truncateText } from 'pgvigil-pool/redact';
import t from 'tap';

t.test('literals that survived normalization are replaced', async (t) => {
  const cases: [string, string, number][] = [
    ["ALTER ROLE x PASSWORD 'some-secret'", 'ALTER ROLE x PASSWORD ?', 1],
    [
      "CREATE USER bob WITH PASSWORD 'it''s secret' VALID UNTIL '2030-01-01'",
      'CREATE USER bob WITH PASSWORD ? VALID UNTIL ?',
      2,
    ],
    ["SELECT E'a\\'b secret' AS x", 'SELECT ? AS x', 1],
    ['DO $body$ BEGIN PERFORM 1; END $body$', 'DO ?', 1],
    ['SELECT $$secret$$, $tag$x$tag$', 'SELECT ?, ?', 2],
    ['SELECT a FROM t WHERE id = $1 AND b = $2', 'SELECT a FROM t WHERE id = $1 AND b = $2', 0],
    ['SELECT 42, 3.14, .5, 1e10, -7 FROM t2', 'SELECT ?, ?, ?, ?, -? FROM t2', 5],
    ["SELECT X'1F', B'101', N'nat', U&'d\\0061t'", 'SELECT ?, ?, ?, ?', 4],
    ['SELECT "quoted ""id""" FROM "T1"', 'SELECT "quoted ""id""" FROM "T1"', 0],
    ["SELECT 1 /* user=alice secret */ -- trailing 'x'\nFROM t", 'SELECT ?\nFROM t', 1],
    ['/* app:web */\n-- note\nSELECT 1', 'SELECT ?', 1],
    ["ALTER ROLE x PASSWORD 'unterminated secret", 'ALTER ROLE x PASSWORD ?', 1],
    ['SELECT col1, t9.x FROM tab2', 'SELECT col1, t9.x FROM tab2', 0],
    [
      'SELECT a, count(*) FROM t GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1',
      'SELECT a, count(*) FROM t GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT $1',
      0,
    ],
    ['SELECT a FROM t ORDER BY a + 5, 3', 'SELECT a FROM t ORDER BY a + ?, ?', 2],
  ];
  for (const [input, expected, literals] of cases) {
    const r = redactSql(input);
    t.equal(r.text, expected, input);
    t.equal(r.literals, literals, `${input}: literal count`);
  }
  t.notMatch(redactSql("ALTER ROLE x PASSWORD 'some-secret'").text, /some-secret/);
});

t.test('truncation marks the cut and never exceeds the limit', async (t) => {
  t.equal(truncateText('abcdef', 10), 'abcdef');
  t.equal(truncateText('abcdef', 4), 'abc…');
  t.ok(truncateText('x'.repeat(500), 200).length <= 200);
});
