#!/usr/bin/env node
// Writes prometheusrule.yaml: every rule group of alerts/*.yml (thresholds included, in file
// order) as one Prometheus Operator PrometheusRule. alerts/ is the source of truth; run this after
// changing it (npm run deploy:prometheusrule); --check exits 1 when the committed file and alerts/
// disagree (test/deploy/kubernetes.test.ts runs it).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

const here = dirname(fileURLToPath(import.meta.url));
export const alertsDir = join(here, '..', '..', 'alerts');
export const outputFile = join(here, 'prometheusrule.yaml');

/** The PrometheusRule object built from the files in alerts/. */
export function buildPrometheusRule(dir = alertsDir) {
  const files = readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  const groups = files.flatMap((f) => {
    const doc = parse(readFileSync(join(dir, f), 'utf8'));
    if (!Array.isArray(doc?.groups)) throw new Error(`${f}: no groups`);
    return doc.groups;
  });
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: {
      name: 'pgvigil-alerts',
      labels: { 'app.kubernetes.io/name': 'pgvigil', 'app.kubernetes.io/component': 'alerts' },
    },
    spec: { groups },
  };
}

export function renderPrometheusRule(dir = alertsDir) {
  const header = '# GENERATED from alerts/*.yml by deploy/kubernetes/generate-prometheusrule.mjs; do not edit.\n';
  return header + stringify(buildPrometheusRule(dir), { lineWidth: 100 });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = renderPrometheusRule();
  if (process.argv.includes('--check')) {
    // Exit 1 when the committed file is not what alerts/ generates.
    let current = '';
    try {
      current = readFileSync(outputFile, 'utf8');
    } catch {
      // missing: differs
    }
    if (current !== wanted) {
      console.error(`${outputFile} is out of date with alerts/: run npm run deploy:prometheusrule`);
      process.exit(1);
    }
    console.log(`${outputFile} matches alerts/`);
  } else {
    writeFileSync(outputFile, wanted);
    console.log(`wrote ${outputFile}`);
  }
}
