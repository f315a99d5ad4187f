import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

// Scraping the way Prometheus does (gzip, OpenMetrics first), timed to the last byte.

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

export const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,' +
  'text/plain;version=0.0.4;q=0.3,*/*;q=0.1';

export interface ScrapeResult {
  readonly status: number;
  readonly ms: number;
  readonly bytes: number;
  readonly body: string;
}

export function scrape(url: string, headers: Record<string, string> = {}): Promise<ScrapeResult> {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers, timeout: 120_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        const raw = Buffer.concat(chunks);
        const gzipped = res.headers['content-encoding'] === 'gzip';
        // Decoded only when read: 50 scrapers decompressing 10 MB bodies would load the machine
        // more than the exporter under test.
        resolve({
          status: res.statusCode ?? 0,
          ms,
          bytes: raw.length,
          get body() {
            return gzipped ? gunzipSync(raw).toString() : raw.toString();
          },
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error('scrape timed out')));
    req.on('error', reject);
  });
}

/** A scrape as Prometheus sends it. */
export const prometheusScrape = (url: string) => scrape(url, { Accept: PROMETHEUS_ACCEPT, 'Accept-Encoding': 'gzip' });

/** Sample lines (not comments) of an exposition. */
export function seriesCount(body: string): number {
  let n = 0;
  for (const line of body.split('\n')) if (line !== '' && !line.startsWith('#')) n++;
  return n;
}

/** Family names from the # TYPE lines (counters in OpenMetrics lose _total; compare both ways). */
export function familyNames(body: string): Set<string> {
  const names = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) \S+$/gm)) names.add(m[1]!);
  return names;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** `n` scrapes one after another, or as many as fit in `budgetS` seconds when the exporter is slow. */
export async function sequentialScrapes(url: string, n: number, budgetS = Infinity) {
  const times: number[] = [];
  let errors = 0;
  const deadline = Date.now() + budgetS * 1000;
  for (let i = 0; i < n && Date.now() < deadline; i++) {
    try {
      const r = await prometheusScrape(url);
      if (r.status !== 200) errors++;
      times.push(r.ms);
    } catch {
      errors++;
    }
  }
  return { n: times.length, median: percentile(times, 50), p99: percentile(times, 99), errors };
}

/** wrk's requests per second at `connections` connections for `seconds`. */
export function wrk(url: string, connections: number, seconds: number): { rps: number; errors: number } {
  const res = spawnSync(
    'wrk',
    ['-t', '2', '-c', String(connections), '-d', `${seconds}s`, '--timeout', '30s', '-H', 'Accept-Encoding: gzip', url],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`wrk failed: ${res.stderr || res.stdout}`);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(res.stdout)?.[1] ?? NaN);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(res.stdout);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(res.stdout)?.[1] ?? 0);
  const errors = (errs === null ? 0 : errs.slice(1).reduce((s, v) => s + Number(v), 0)) + non2xx;
  return { rps, errors };
}
