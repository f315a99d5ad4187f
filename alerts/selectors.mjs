#!/usr/bin/env node
// Writes the job selectors of alerts/mixin-config.json into every rule expression of alerts/*.yml.
//
// The rule files stay plain Prometheus rule files (Prometheus, promtool and the PrometheusRule
// generator load them as they are), and mixin-config.json is the one place the selectors are set:
//   exporterSelector     goes on every series pgvigil itself exports (pg_*, pgbouncer_*, pgvigil_*)
//                        and on `up`, so that in a Prometheus shared with postgres_exporter (same
//                        pg_up, pg_replication_lag_seconds ...) the rules read only pgvigil's job;
//   applicationSelector  goes on the series applications export through pgvigil/pool
//                        (pgvigil_client_*), which carry the application's job, not pgvigil's.
// Each selector is put first in the braces, replacing a job matcher already there, so running this
// twice changes nothing. Recorded series (names with a colon) are left alone: their rules select.
//
//   node alerts/selectors.mjs          rewrite alerts/*.yml after editing mixin-config.json
//   node alerts/selectors.mjs --check  exit 1 when a rule file does not carry the configured selectors
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const alertsDir = dirname(fileURLToPath(import.meta.url));
export const configFile = join(alertsDir, 'mixin-config.json');

export function readMixinConfig(file = configFile) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** The selector a series name gets, or undefined for names this script leaves alone. */
export function selectorFor(name, config) {
  if (name.includes(':')) return undefined;
  if (name.startsWith('pgvigil_client_')) return config.applicationSelector;
  if (/^(pg|pgbouncer|pgvigil)_/.test(name) || name === 'up') return config.exporterSelector;
  return undefined;
}

// PromQL words that look like names but never are series.
const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS_WITH_LABEL_LIST = /^(by|without|on|ignoring|group_left|group_right)$/;
const JOB_MATCHER = /^\s*job\s*(=~|!~|!=|=)\s*"(?:[^"\\]|\\.)*"\s*(,\s*)?/;

/** One PromQL expression with the selectors applied. */
export function applySelectors(expr, config) {
  let out = '';
  let i = 0;
  let lastWord = '';
  while (i < expr.length) {
    const c = expr[i];
    if (c === '"' || c === "'" || c === '`') {
      const end = stringEnd(expr, i);
      out += expr.slice(i, end);
      i = end;
      continue;
    }
    if (c === '#') {
      const end = expr.indexOf('\n', i);
      const stop = end === -1 ? expr.length : end;
      out += expr.slice(i, stop);
      i = stop;
      continue;
    }
    if (c === '[') {
      // A range or subquery window: durations, not names.
      const end = expr.indexOf(']', i) + 1;
      out += expr.slice(i, end);
      i = end;
      continue;
    }
    if (c === '(' && KEYWORDS_WITH_LABEL_LIST.test(lastWord)) {
      // by (...), on (...): label names, not series.
      const end = expr.indexOf(')', i) + 1;
      out += expr.slice(i, end);
      i = end;
      lastWord = '';
      continue;
    }
    const word = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(expr.slice(i))?.[0];
    if (word === undefined) {
      if (!/\s/.test(c)) lastWord = '';
      out += c;
      i++;
      continue;
    }
    i += word.length;
    out += word;
    lastWord = word;
    const after = expr.slice(i);
    if (KEYWORDS.has(word) || /^\s*\(/.test(after)) continue; // keyword, function or aggregation
    const selector = selectorFor(word, config);
    if (selector === undefined || selector === '') {
      if (after.startsWith('{')) {
        const end = matchersEnd(expr, i);
        out += expr.slice(i, end);
        i = end;
      }
      continue;
    }
    if (after.startsWith('{')) {
      const end = matchersEnd(expr, i);
      const inner = expr.slice(i + 1, end - 1).replace(JOB_MATCHER, '');
      out += `{${selector}${inner.trim() === '' ? '' : `, ${inner.trim()}`}}`;
      i = end;
    } else out += `{${selector}}`;
  }
  return out;
}

function stringEnd(text, start) {
  const quote = text[start];
  let i = start + 1;
  while (i < text.length && text[i] !== quote) i += text[i] === '\\' && quote !== '`' ? 2 : 1;
  return i + 1;
}

/** Index just past the `}` closing the matchers that open at `start`. */
function matchersEnd(text, start) {
  let i = start + 1;
  while (i < text.length && text[i] !== '}') i = text[i] === '"' || text[i] === "'" ? stringEnd(text, i) : i + 1;
  return i + 1;
}

/**
 * A rule file with the selectors applied to every `expr:`, as text, so comments, folding and the
 * order of keys stay as they were written. An expr is either on its line (`expr: up == 0`) or a
 * block scalar (`expr: |`) whose lines are indented deeper than the key.
 */
export function applySelectorsToFile(text, config) {
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    const m = /^(\s*)(- )?expr:\s?(.*)$/.exec(lines[n]);
    if (m === null) continue;
    const indent = m[1].length + (m[2] === undefined ? 0 : 2);
    if (/^[|>][+-]?\s*$/.test(m[3])) {
      let end = n + 1;
      while (end < lines.length && (lines[end].trim() === '' || lines[end].search(/\S/) > indent)) end++;
      const block = lines.slice(n + 1, end).join('\n');
      lines.splice(n + 1, end - n - 1, ...applySelectors(block, config).split('\n'));
      n = end - 1;
    } else if (m[3] !== '' && !/^['"]/.test(m[3])) {
      lines[n] = lines[n].slice(0, lines[n].length - m[3].length) + applySelectors(m[3], config);
    } else if (m[3] !== '') {
      throw new Error(`line ${n + 1}: quoted expr; write it as a block scalar (expr: |)`);
    }
  }
  return lines.join('\n');
}

export function ruleFiles(dir = alertsDir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => join(dir, f));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const config = readMixinConfig();
  const check = process.argv.includes('--check');
  const stale = [];
  for (const file of ruleFiles()) {
    const text = readFileSync(file, 'utf8');
    const wanted = applySelectorsToFile(text, config);
    if (wanted === text) continue;
    stale.push(file);
    if (!check) writeFileSync(file, wanted);
  }
  if (check && stale.length > 0) {
    console.error(`not the selectors of ${configFile}:\n  ${stale.join('\n  ')}\nrun: node alerts/selectors.mjs`);
    process.exit(1);
  }
  console.log(check ? 'every rule carries the selectors of mixin-config.json' : `rewrote ${stale.length} file(s)`);
}
