import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../../src/dev/local-cluster.js';
import { eventually } from './pgvigil.js';

// Debian's prometheus and prometheus-alertmanager, started on loopback with temp dirs and free
// ports for the end-to-end test, and removed at teardown.

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface AlertmanagerAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly status: { state: string };
  readonly startsAt: string;
}

export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface PrometheusStack {
  readonly prometheusUrl: string;
  readonly alertmanagerUrl: string;
  readonly dir: string;
  /** Instant query; throws on a PromQL error. */
  query(expr: string): Promise<PromSample[]>;
  /** Active (not resolved) alerts Alertmanager holds. */
  alerts(): Promise<AlertmanagerAlert[]>;
  /** Every scrape target with whether its last scrape succeeded. */
  targetsUp(): Promise<{ job: string; up: boolean }[]>;
  /** What the processes printed, for failure messages. */
  output(): string;
}

export interface PrometheusStackOptions {
  /** Scrape targets per job (host:port). */
  targets: Record<string, string[]>;
  /** Rule files, by file name → YAML text, written into the temp dir. */
  rules: Record<string, string>;
  intervalSeconds?: number;
  /** Scrape intervals of single jobs, where they differ from intervalSeconds. */
  jobIntervalSeconds?: Record<string, number>;
}

/** The envelope of Prometheus' HTTP API answers. */
interface PromApiResponse<Data> {
  readonly data: Data;
}

interface PromTarget {
  readonly labels: { readonly job: string; readonly [name: string]: string };
  readonly health: string;
}

/** GET a JSON body; the caller names the shape the API documents. */
async function getJson<Body>(url: string): Promise<Body> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const body: unknown = await res.json();
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body as Body;
}

export async function startPrometheusStack(t: Teardown, options: PrometheusStackOptions): Promise<PrometheusStack> {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-e2e-prom-'));
  const [promPort, amPort] = [await freePort(), await freePort()];
  const interval = `${options.intervalSeconds ?? 1}s`;
  let output = '';
  const children: ChildProcess[] = [];
  const run = (bin: string, args: string[]) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.on('error', (err) => {
      output += `${bin}: ${err.message}\n`;
    });
    for (const s of [child.stdout, child.stderr]) {
      s.on('data', (d: Buffer) => {
        output = (output + d.toString()).slice(-20_000);
      });
    }
    children.push(child);
  };
  t.teardown(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
            setTimeout(() => c.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, text] of Object.entries(options.rules)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, 'prometheus.yml'),
    stringify({
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      rule_files: Object.keys(options.rules),
      alerting: { alertmanagers: [{ static_configs: [{ targets: [`127.0.0.1:${amPort}`] }] }] },
      scrape_configs: Object.entries(options.targets).map(([job, targets]) => {
        const own = options.jobIntervalSeconds?.[job];
        const interval = own === undefined ? {} : { scrape_interval: `${own}s`, scrape_timeout: `${own}s` };
        return { job_name: job, ...interval, static_configs: [{ targets }] };
      }),
    }),
  );
  // group_wait/interval of a second: the test reads Alertmanager's API, not notifications, but
  // the webhook-less route still has to be valid.
  writeFileSync(
    join(dir, 'alertmanager.yml'),
    stringify({
      route: {
        receiver: 'null',
        group_by: ['alertname'],
        group_wait: '1s',
        group_interval: '1s',
        repeat_interval: '1h',
      },
      receivers: [{ name: 'null' }],
    }),
  );
  run('prometheus-alertmanager', [
    `--config.file=${join(dir, 'alertmanager.yml')}`,
    `--storage.path=${join(dir, 'am-data')}`,
    `--web.listen-address=127.0.0.1:${amPort}`,
    '--cluster.listen-address=',
  ]);
  run('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'prom-data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`,
    // Resend firing alerts every 2 s so Alertmanager never times them out between evaluations.
    '--rules.alert.resend-delay=2s',
  ]);
  const prometheusUrl = `http://127.0.0.1:${promPort}`;
  const alertmanagerUrl = `http://127.0.0.1:${amPort}`;
  const ready = async (url: string) => {
    try {
      return (await fetch(url, { signal: AbortSignal.timeout(1000) })).ok;
    } catch {
      return false;
    }
  };
  try {
    await eventually(() => ready(`${prometheusUrl}/-/ready`), 30_000, 'Prometheus ready');
    await eventually(() => ready(`${alertmanagerUrl}/-/ready`), 30_000, 'Alertmanager ready');
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${output}`, { cause: err });
  }
  return {
    prometheusUrl,
    alertmanagerUrl,
    dir,
    async query(expr) {
      const body = await getJson<PromApiResponse<{ result: PromSample[] }>>(
        `${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return body.data.result;
    },
    async alerts() {
      return await getJson<AlertmanagerAlert[]>(
        `${alertmanagerUrl}/api/v2/alerts?active=true&silenced=true&inhibited=true`,
      );
    },
    async targetsUp() {
      const body = await getJson<PromApiResponse<{ activeTargets: PromTarget[] }>>(
        `${prometheusUrl}/api/v1/targets?state=active`,
      );
      return body.data.activeTargets.map((x) => ({ job: x.labels.job, up: x.health === 'up' }));
    },
    output: () => output,
  };
}
