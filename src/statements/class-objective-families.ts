import type { QueryClass } from 'pgvigil-pool/classes';
import type { FamilySpec } from '../collectors/collector-spec.js';
import { type Family, gauge } from '../exposition/families.js';
import { formatValue } from '../exposition/format.js';

// What a query class promises, as series the SLO rules (alerts/slo.yml) and the SLO board join
// with the class histograms: the objective, the target share of calls within it, and which
// bucket of pg_statement_class_duration_seconds (and of the application-side
// pgvigil_client_query_duration_seconds, built on the same bounds) counts the calls within it.
//
// Selecting that bucket means matching its `le` label, and the spelling of `le` depends on the
// Prometheus that stored it. Prometheus 2 keeps `le` as exposed ("1", "0.05"); Prometheus 3
// rewrites the `le` of classic histogram buckets into its float form at ingestion ("1" becomes
// "1.0", "0.00005" becomes "5e-05") but leaves the labels of every other series as they are. So
// pg_statement_class_objective_info carries one series per spelling of the objective's bound, in
// the label `objective_le` (only histogram buckets may carry `le`: promtool rejects it elsewhere).
// `bucket and on (class, le) label_replace(pg_statement_class_objective_info, "le", "$1",
// "objective_le", "(.*)")` then picks exactly one bucket per class on either version, and never
// two, because a bucket series has only one spelling.

export const OBJECTIVE = {
  seconds: {
    name: 'pg_statement_class_objective_seconds',
    type: 'gauge',
    unit: 'seconds',
    help: 'Latency objective of each query class.',
  },
  target: {
    name: 'pg_statement_class_target_ratio',
    type: 'gauge',
    unit: 'ratio',
    help:
      'Share of calls of each query class that must finish within its objective ' +
      '(the SLO; 1 - target is the error budget).',
  },
  info: {
    name: 'pg_statement_class_objective_info',
    type: 'gauge',
    help:
      "The le of the class histograms' bucket at each query class's objective, as objective_le, once per " +
      'spelling Prometheus may store (as exposed, and the float form Prometheus 3 gives bucket bounds) (value 1).',
  },
} as const satisfies Record<string, FamilySpec>;

/** The class objective families, in the order classObjectiveFamilies returns them. */
export const CLASS_OBJECTIVE_FAMILIES: readonly FamilySpec[] = Object.values(OBJECTIVE);

/** The spelling Prometheus 3 gives a bucket bound: Go's strconv 'g' format, with ".0" on whole numbers. */
export function prometheusFloatLabel(value: number): string {
  if (!Number.isFinite(value)) return formatValue(value);
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  // Go's shortest 'g' switches to exponent notation below 1e-4 and from 1e6 on (JavaScript's
  // String() only below 1e-6 and from 1e21); the digits are the shortest round-trip ones in both.
  if (exponent < -4 || exponent >= 6) {
    const digits = String(Math.abs(exponent)).padStart(2, '0');
    return `${mantissa}e${exponent < 0 ? '-' : '+'}${digits}`;
  }
  const plain = String(value);
  return plain.includes('.') ? plain : `${plain}.0`;
}

/** Every spelling of a bucket bound's `le` a Prometheus may have stored: as exposed, and in float form. */
export function leSpellings(bound: number): string[] {
  return [...new Set([formatValue(bound), prometheusFloatLabel(bound)])];
}

/**
 * pg_statement_class_objective_seconds, pg_statement_class_target_ratio and
 * pg_statement_class_objective_info for `classes`, whose histograms use `bounds`. Every objective
 * must be one of the bounds (bucketBounds adds them), or "calls within the objective" is not a bucket.
 */
export function classObjectiveFamilies(classes: readonly QueryClass[], bounds: readonly number[]): Family[] {
  for (const c of classes) {
    if (!bounds.includes(c.objectiveSeconds)) {
      const what = `objective ${c.objectiveSeconds} s is not a bucket bound of the class histograms`;
      throw new Error(`query class ${c.name}: ${what}`);
    }
  }
  return [
    gauge(
      OBJECTIVE.seconds.name,
      OBJECTIVE.seconds.help,
      classes.map((c) => ({ labels: { class: c.name }, value: c.objectiveSeconds })),
    ),
    gauge(
      OBJECTIVE.target.name,
      OBJECTIVE.target.help,
      classes.map((c) => ({ labels: { class: c.name }, value: c.target })),
    ),
    gauge(
      OBJECTIVE.info.name,
      OBJECTIVE.info.help,
      classes.flatMap((c) =>
        leSpellings(c.objectiveSeconds).map((le) => ({ labels: { class: c.name, objective_le: le }, value: 1 })),
      ),
    ),
  ];
}
