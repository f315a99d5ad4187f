import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import t from 'tap';
import { repoRoot } from '../helpers/mixin.js';

// The package as a user gets it: `npm pack` on a copy of the repository without dist/ (so the
// tarball holds only what prepack built), installed with `npm install <tarball>` into a scratch
// project, where `npx pgvigil --help` runs and every entry point of package.json's exports map
// imports. When the repository has npm workspaces, their packages are packed and installed
// beside it, as they would come from the registry.

interface PackageJson {
  name: string;
  version: string;
  exports: Record<string, unknown>;
  workspaces?: string[];
}

const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageJson;
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });

const dir = mkdtempSync(join(tmpdir(), 'pgvigil-pack-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

// A copy of the sources with the repository's node_modules (the build needs TypeScript), no dist/.
const source = join(dir, 'source');
const skip = new Set(['node_modules', 'dist', '.git', 'test']);
cpSync(repoRoot, source, { recursive: true, filter: (from) => !skip.has(basename(from)) });
symlinkSync(join(repoRoot, 'node_modules'), join(source, 'node_modules'), 'dir');

const tarballs = join(dir, 'tarballs');
mkdirSync(tarballs);
const workspaceFlags = pkg.workspaces !== undefined ? ['--workspaces', '--include-workspace-root'] : [];
const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', tarballs, ...workspaceFlags], source)) as {
  name: string;
  filename: string;
  files: { path: string }[];
}[];
const own = packed.find((p) => p.name === pkg.name)!;

t.test('npm pack builds first and ships the CLI and the library, not dev or demo tooling', async (t) => {
  const paths = own.files.map((f) => f.path);
  for (const entry of Object.values(pkg.exports)) {
    for (const target of typeof entry === 'string' ? [entry] : Object.values(entry as Record<string, string>)) {
      t.ok(paths.includes(target.replace(/^\.\//, '')), `${target} is in the tarball`);
    }
  }
  t.ok(paths.includes('dist/src/main.js'), 'the pgvigil command');
  t.same(
    paths.filter((p) => /^dist\/src\/(dev|demo)\//.test(p)),
    [],
    'no dev or demo tooling',
  );
  const unwanted = paths.filter((p) => /^(src|test|bench|dist\/bench)\//.test(p) || p.endsWith('.map'));
  t.same(unwanted, [], 'no sources, tests, bench, maps');
});

t.test('installed from the tarball into a scratch project', async (t) => {
  const app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  const files = packed.map((p) => join(tarballs, p.filename));
  npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', ...files], app);

  // `--` so that npx hands the flags to pgvigil instead of answering --help itself.
  const npx = (...args: string[]) =>
    spawnSync('npx', ['--no', '--', 'pgvigil', ...args], { cwd: app, encoding: 'utf8', timeout: 60_000 });
  const help = npx('--help');
  t.equal(help.status, 0, `npx pgvigil --help exits 0 ${help.stderr}`);
  t.match(help.stdout, /^pgvigil \S+: PostgreSQL monitoring sidecar/, 'pgvigil answers, not npx');
  t.match(help.stdout, /DATABASE_URL/, 'names the variables it reads');
  t.equal(npx('--version').stdout.trim(), pkg.version, 'npx pgvigil --version');
  t.equal(npx('--frobnicate').status, 2, 'an unknown argument is an error');

  // Every entry point of the exports map, as an application imports it.
  const specifiers = Object.keys(pkg.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? pkg.name : `${pkg.name}${key.slice(1)}`));
  t.ok(specifiers.includes('pgvigil/pool'), 'pgvigil/pool is an entry point');
  const script = `
    const out = {};
    for (const s of ${JSON.stringify(specifiers)}) out[s] = Object.keys(await import(s)).sort();
    const internal = '${pkg.name}/dist/src/poller.js';
    try { await import(internal); out.private = 'importable'; } catch (e) { out.private = e.code; }
    console.log(JSON.stringify(out));`;
  const output = execFileSync('node', ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8' });
  const imported = JSON.parse(output) as Record<string, string[] | string>;
  for (const s of specifiers) t.ok((imported[s]?.length ?? 0) > 0, `${s} imports and exports ${imported[s]}`);
  const root = imported.pgvigil;
  t.ok(root?.includes('createPgvigil') && root.includes('loadConfig'), 'pgvigil: createPgvigil, loadConfig');
  t.ok(imported['pgvigil/pool']?.includes('instrumentPool'), 'pgvigil/pool: instrumentPool');
  t.equal(imported.private, 'ERR_PACKAGE_PATH_NOT_EXPORTED', 'internal modules are not importable');
});
