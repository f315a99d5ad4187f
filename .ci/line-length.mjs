#!/usr/bin/env node
// No line of code over 120 characters: the formatter wraps what it can (calls, expressions), this
// catches what it leaves alone (strings, comments, SQL in template literals, YAML). Generated and
// data files are left out: dashboards/*.json, test/golden/, package-lock.json.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const MAX = 120;
const CODE = /\.(ts|mts|mjs|js|yml|yaml|sh)$|^\.ci\/run$|^Dockerfile$/;
const SKIP = /^(dashboards\/.*\.json|test\/golden\/|package-lock\.json)/;

const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { encoding: 'utf8' })
  .split('\n')
  .filter((f) => f !== '' && CODE.test(f) && !SKIP.test(f));
let long = 0;
for (const file of files) {
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    continue; // listed by git but deleted in the work tree
  }
  text.split('\n').forEach((line, i) => {
    if (line.length > MAX) {
      long++;
      process.stdout.write(`${file}:${i + 1}: ${line.length} characters (at most ${MAX})\n`);
    }
  });
}
if (long > 0) {
  process.stdout.write(`${long} line(s) over ${MAX} characters\n`);
  process.exit(1);
}
