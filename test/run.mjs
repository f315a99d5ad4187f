#!/usr/bin/env node
// Runs the whole suite with tap and ends with the one line CI reads:
//   tests: N passed, N failed, N skipped
// tap prints its totals as "# { total: N, pass: N, fail: N, skip: N }"; exit code is tap's.
// CI keeps only the tail of a long log, so every failed test point is repeated just above that
// line, with the subtests it sits in and the first lines of its diagnostics.
import { spawn } from 'node:child_process';
import { FailureTracker } from './run-failures.mjs';

const args = ['tap', ...process.argv.slice(2)];
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'] });
const failures = new FailureTracker();
let tail = '';
let partialLine = '';
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk);
  const text = chunk.toString();
  tail = (tail + text).slice(-4096);
  const lines = (partialLine + text).split('\n');
  partialLine = lines.pop() ?? '';
  for (const line of lines) failures.read(line);
});
child.on('exit', (code, signal) => {
  if (partialLine !== '') failures.read(partialLine);
  const summary = [...tail.matchAll(/^# \{ (.*) \}$/gm)].at(-1)?.[1] ?? '';
  const count = (key) => Number(new RegExp(`\\b${key}: (\\d+)`).exec(summary)?.[1] ?? 0);
  const total = count('total');
  let failed = count('fail');
  const skipped = count('skip') + count('todo');
  if ((code !== 0 || signal !== null) && failed === 0) failed = 1; // a crash or timeout is a failure too
  const passed = count('pass');
  if (total === 0 && failed === 0) failed = 1; // a run that ran nothing did not pass
  const report = failures.report();
  if (report !== '') process.stdout.write(`\n${report}`);
  process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  process.exit(failed > 0 && code === 0 ? 1 : (code ?? 1));
});
