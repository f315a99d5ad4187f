import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse, stringify } from 'yaml';
import { ruleFilePaths } from '../helpers/mixin.js';

// The alert pack as the end-to-end test loads it: the same expressions, with durations scaled
// from minutes to seconds so each fault fires and resolves within the test:
//   - every `for:` becomes E2E_FOR;
//   - every range of a minute or more ([5m], [10m], [30m], [6h]) becomes E2E_RANGE, except in the
//     SLO rules (slo.yml), where a minute becomes a second ([5m] → [5s], [1h] → [60s],
//     [3d] → [4320s]): their meaning is the ratio of a long window to a short one, which a
//     single range would erase;
//   - a few thresholds in thresholds.yml are lowered (E2E_THRESHOLDS), through the same
//     recording rules a deployment would edit. The rest keep their production values.

export const E2E_FOR = '2s';
export const E2E_RANGE = '20s';

export const E2E_THRESHOLDS: Record<string, number> = {
  long_running_transaction_seconds: 3,
  idle_in_transaction_seconds: 3,
  idle_in_transaction_blocking_seconds: 2,
  lock_wait_seconds: 2,
  slow_query_seconds: 3,
  unused_index_bytes: 0,
  dead_tuples_min: 1000,
  slot_retained_wal_bytes: 0,
  replication_lag_bytes: 1048576,
  replication_lag_seconds: 3,
  // The SLO windows are 60 times shorter (see scaleRanges), so a call rate over them is 60 times higher.
  slo_min_calls_per_second: 3,
};

const SCALED_SECONDS_PER_UNIT: Record<string, number> = { m: 1, h: 60, d: 1440 };

/** [5m] → [5s], [6h] → [360s], [1d] → [1440s]: time scaled by 1/60. */
export function scaleRanges(expr: string): string {
  return expr.replace(/\[(\d+)([mhd])\]/g, (_m, n: string, unit: string) => {
    return `[${Number(n) * SCALED_SECONDS_PER_UNIT[unit]!}s]`;
  });
}

export function e2eRuleFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const file of ruleFilePaths()) {
    const doc = parse(readFileSync(file, 'utf8'));
    const scaled = basename(file) === 'slo.yml';
    for (const group of doc.groups) {
      for (const rule of group.rules) {
        if (rule.for !== undefined) rule.for = E2E_FOR;
        const expr = String(rule.expr);
        rule.expr = scaled ? scaleRanges(expr) : expr.replace(/\[\d+[mhd]\]/g, `[${E2E_RANGE}]`);
        const threshold =
          rule.record === 'pgvigil:alert_threshold' ? E2E_THRESHOLDS[rule.labels?.threshold] : undefined;
        if (threshold !== undefined) rule.expr = `vector(${threshold})`;
      }
    }
    out[basename(file)] = stringify(doc);
  }
  return out;
}
