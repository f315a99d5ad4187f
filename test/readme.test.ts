import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { renderReadme, repoRoot } from '../src/dev/update-readme.js';

t.test('README generated sections match the schema and the golden metric list', async (t) => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  t.equal(readme, renderReadme(readme), 'README.md is up to date (run `npm run docs` after changing config or metrics)');
});

t.test('README names the two set-up commands and the test closing line', async (t) => {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  t.match(readme, /npm ci && npm run demo/);
  t.match(readme, /npm test/);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const script of ['demo', 'test', 'build', 'start']) t.ok(pkg.scripts[script], `npm run ${script} exists`);
});
