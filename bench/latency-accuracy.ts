import { parseArgs } from 'node:util';
import { LATENCY_FITS } from '../src/statements/latency-fit.js';
import { compare, TABLE_HEADER, tableRow } from './latency-compare.js';
import { measureShapes } from './latency-harness.js';
import { replay } from './latency-replay.js';
import { LATENCY_SHAPES } from './latency-shapes.js';

// How close pgvigil's server-side class histograms come to the truth: pgbench runs statements of
// known shape, its per-transaction log is the truth, pgvigil polls pg_stat_statements meanwhile.
// `npm run bench:latency -- [--seconds=60] [--interval=15] [--clients=2] [--major=15] [--shapes=bimodal,uniform]`

const { values: opts } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    interval: { type: 'string', default: '15' },
    clients: { type: 'string', default: '2' },
    major: { type: 'string', default: '15' },
    shapes: { type: 'string', default: LATENCY_SHAPES.map((s) => s.name).join(',') },
    'minmax-reset': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opts.help) {
  process.stdout.write(
    'npm run bench:latency -- [--seconds=60] [--interval=15] [--clients=2] [--major=15] [--shapes=...] ' +
      '[--minmax-reset]\n',
  );
  process.exit(0);
}

const log = (line: string) =>
  process.stderr.write(`[bench:latency ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
const wanted = new Set(opts.shapes.split(','));
const shapes = LATENCY_SHAPES.filter((s) => wanted.has(s.name));

const results = await measureShapes({
  shapes,
  major: Number(opts.major),
  seconds: Number(opts.seconds),
  intervalSeconds: Number(opts.interval),
  clients: Number(opts.clients),
  env: { PGVIGIL_STATEMENTS_MINMAX_RESET: String(opts['minmax-reset']) },
  log,
});

process.stdout.write(
  `PostgreSQL ${opts.major}, ${opts.seconds} s of pgbench, ${opts.clients} client(s) per shape, ` +
    `poll every ${opts.interval} s, min/max reset ${opts['minmax-reset'] ? 'on' : 'off'}\n\n`,
);
process.stdout.write(`${TABLE_HEADER}\n`);
let allOk = true;
for (const r of results) {
  const c = compare(r.truth, r.exporter, r.shape.objectiveSeconds);
  allOk &&= c.ok;
  const name = `${r.shape.name} (${r.shape.description})`;
  process.stdout.write(`${tableRow(name, 'pgvigil /metrics', r.shape.objectiveSeconds, c)}\n`);
  for (const fit of LATENCY_FITS) {
    const replayed = compare(r.truth, replay(r.rows, [r.shape.objectiveSeconds], fit), r.shape.objectiveSeconds);
    process.stdout.write(`${tableRow(name, `replay: ${fit}`, r.shape.objectiveSeconds, replayed)}\n`);
  }
}
process.stdout.write(`\n${allOk ? 'every target met' : 'some targets missed (✗)'}\n\n`);
// pgbench times a transaction from the client: the server's execution time plus the round trip and
// the client's own scheduling, which a server-side histogram cannot see. Their means show how much.
for (const r of results) {
  const truthMean = r.truth.reduce((a, b) => a + b, 0) / r.truth.length;
  const serverMean = (r.exporter.sum ?? 0) / r.exporter.count;
  const ms = (s: number) => `${(s * 1000).toFixed(2)} ms`;
  process.stdout.write(`${r.shape.name}: mean per call ${ms(truthMean)} (pgbench) vs ${ms(serverMean)} (server)\n`);
}
