// Prometheus range queries for the dashboard tests, and the steps where a rate under a steady
// workload lies: no value, NaN (a 0/0 ratio), or 0 in a series that is above 0 elsewhere in the range.

export interface RangeSeries {
  readonly metric: Record<string, string>;
  readonly values: [number, string][];
}

/** GET /api/v1/query_range; throws on a PromQL error. */
export async function rangeQuery(
  prometheusUrl: string,
  expr: string,
  start: number,
  end: number,
  stepSeconds: number,
): Promise<RangeSeries[]> {
  const params = new URLSearchParams({
    query: expr,
    start: String(start),
    end: String(end),
    step: String(stepSeconds),
  });
  const res = await fetch(`${prometheusUrl}/api/v1/query_range?${params}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { status: string; error?: string; data: { result: RangeSeries[] } };
  if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
  return body.data.result;
}

/** Each step (or series at a step) that reads nothing, NaN, or 0 where the series is above 0 elsewhere. */
export function windowGaps(series: RangeSeries[], start: number, end: number, stepSeconds: number): string[] {
  const gaps: string[] = [];
  const name = (s: RangeSeries) => JSON.stringify(s.metric);
  for (let at = start; at <= end; at += stepSeconds) {
    const values = series.map((s) => s.values.find(([t]) => t === at)?.[1]);
    if (!values.some((v) => v !== undefined && Number.isFinite(Number(v)))) gaps.push(`${at}: no number`);
  }
  for (const s of series) {
    if (!s.values.some(([, v]) => Number(v) > 0)) continue;
    for (let at = start; at <= end; at += stepSeconds) {
      const v = s.values.find(([t]) => t === at)?.[1];
      if (v === undefined || !(Number(v) > 0)) gaps.push(`${at}: ${name(s)} reads ${v ?? 'nothing'}`);
    }
  }
  return gaps;
}
