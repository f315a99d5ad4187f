import t from 'tap';
import { selectTop } from '../../src/statements/top-n.js';

t.test('fills vacancies with the best entries', async (t) => {
  const s = selectTop(
    new Map([
      ['a', 1],
      ['b', 5],
      ['c', 3],
    ]),
    new Set(),
    2,
  );
  t.same([...s].sort(), ['b', 'c']);
});

t.test('membership is stable when scores are close (hysteresis)', async (t) => {
  let members = new Set(['a', 'b']);
  members = selectTop(
    new Map([
      ['a', 10],
      ['b', 10],
      ['c', 14],
    ]),
    members,
    2,
  );
  t.same([...members].sort(), ['a', 'b'], '1.4x is not enough to displace');
  members = selectTop(
    new Map([
      ['a', 10],
      ['b', 9],
      ['c', 20],
    ]),
    members,
    2,
  );
  t.same([...members].sort(), ['a', 'c'], 'a clearly stronger outsider replaces the weakest');
});

t.test('vanished members leave, the cap is respected', async (t) => {
  const m = selectTop(
    new Map([
      ['b', 1],
      ['c', 1],
      ['d', 1],
    ]),
    new Set(['a', 'b', 'c']),
    2,
  );
  t.equal(m.size, 2);
  t.notOk(m.has('a'));
  t.equal(selectTop(new Map([['a', 1]]), new Set(['a']), 0).size, 0);
});

t.test('churn over many polls stays low with noisy scores', async (t) => {
  let members = new Set<string>();
  let changes = 0;
  for (let poll = 0; poll < 50; poll++) {
    const scores = new Map(
      Array.from({ length: 100 }, (_, i) => [`q${i}`, 100 - i + Math.random() * 20] as [string, number]),
    );
    const next = selectTop(scores, members, 10);
    if (poll > 0) changes += [...next].filter((k) => !members.has(k)).length;
    members = next;
  }
  t.ok(changes < 5, `membership changes over 49 polls: ${changes}`);
});
