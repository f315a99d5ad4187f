import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { nodeFlagsOf } from '../../bench/exporters.js';

// pgvigil's node flags live on the first line of src/main.ts (what the installed `pgvigil` command
// runs); the image, `npm start` and the bench must start node with the same ones.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const flags = nodeFlagsOf(join(root, 'src', 'main.ts'));

t.test('the entry point names its node flags', async (t) => {
  t.match(
    readFileSync(join(root, 'src', 'main.ts'), 'utf8').split('\n')[0],
    /^#!\/usr\/bin\/env -S node( --[a-z-]+(=\S+)?)+$/,
  );
  t.ok(flags.length > 0, `flags: ${flags.join(' ')}`);
});

t.test('the Docker image starts node with them', async (t) => {
  const entrypoint = /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1] ?? '[]';
  t.same(JSON.parse(entrypoint), ['node', ...flags, 'dist/src/main.js']);
});

t.test('npm start starts node with them', async (t) => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts.start, ['node', ...flags, 'dist/src/main.js'].join(' '));
});
