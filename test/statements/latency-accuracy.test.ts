import t from 'tap';
import { compare } from '../../bench/latency-compare.js';
import { measureShapes } from '../../bench/latency-harness.js';
import { LATENCY_SHAPES } from '../../bench/latency-shapes.js';
import { testPostgres } from '../helpers/postgres.js';

// Ground truth for the server-side class histogram: pgbench runs a bimodal statement (90 % ~2 ms,
// 10 % ~120 ms) while pgvigil polls every 4 s; pgbench's per-transaction log is the truth. The
// share of calls within the 50 ms objective must be within 3 points of the truth, and p95 and
// p99 (read like histogram_quantile) in the truth's bucket or the next. Counting every call at
// its interval mean put 100 % within the objective and p95 at ~24 ms (truth ~121 ms).

t.test("bimodal statement: share within the objective and p95/p99 against pgbench's log", async (t) => {
  const pg = await testPostgres(t);
  const bimodal = LATENCY_SHAPES.find((s) => s.name === 'bimodal')!;
  const [result] = await measureShapes({ url: pg.url, shapes: [bimodal], seconds: 16, clients: 2, intervalSeconds: 4 });
  const c = compare(result!.truth, result!.exporter, bimodal.objectiveSeconds);
  t.ok(result!.truth.length > 200, `pgbench ran ${result!.truth.length} transactions`);
  t.equal(c.calls.exporter, c.calls.truth, '_count is exactly the calls pgbench made');
  t.ok(c.share.truth > 0.8 && c.share.truth < 0.97, `the truth is bimodal: ${c.share.truth} within 50 ms`);
  t.ok(c.share.ok, `share within 50 ms: truth ${c.share.truth}, pgvigil ${c.share.exporter}`);
  for (const q of c.quantiles.filter((x) => x.q !== 0.5)) {
    t.ok(q.ok, `p${q.q * 100}: truth ${q.truth}, pgvigil ${q.exporter} (${q.bucketsOff} buckets apart)`);
  }
});
