import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { freePort } from '../../src/dev/local-cluster.js';
import { repoRoot } from '../helpers/mixin.js';
import { eventually } from '../helpers/pgvigil.js';

// deploy/alertmanager.yml's inhibit rules, in a real Alertmanager: alerts are posted to its API as
// Prometheus would send them, and the API says which are suppressed and by what.

interface AmAlert {
  readonly labels: Record<string, string>;
  readonly status: { readonly state: string; readonly inhibitedBy: string[] };
}

t.test('PostgresDown holds back the application pool pages of its cluster only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-am-'));
  const port = await freePort();
  const am: ChildProcess = spawn(
    'prometheus-alertmanager',
    [
      `--config.file=${join(repoRoot, 'deploy/alertmanager.yml')}`,
      `--storage.path=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    { stdio: 'ignore' },
  );
  t.teardown(() => {
    am.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}/api/v2/alerts`;
  await eventually(
    async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => undefined))?.ok === true,
    30_000,
    'Alertmanager ready',
  );
  const alert = (labels: Record<string, string>) => ({
    labels,
    annotations: {},
    startsAt: new Date().toISOString(),
    endsAt: new Date(Date.now() + 600_000).toISOString(),
  });
  const down = { alertname: 'PostgresDown', severity: 'critical', job: 'pgvigil', instance: 'db1:9630' };
  const timeouts = { alertname: 'PostgresClientPoolAcquireTimeouts', severity: 'critical', pool: 'main' };
  const posted = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      alert({ ...down, cluster: 'main' }),
      alert({ ...timeouts, job: 'checkout', cluster: 'main' }),
      alert({ ...timeouts, job: 'billing', cluster: 'other' }),
      alert({ alertname: 'PostgresClientPoolAcquireSlow', severity: 'warning', job: 'checkout', cluster: 'main' }),
    ]),
  });
  t.equal(posted.status, 200);
  const stateOf = async () => {
    const alerts = (await (await fetch(url)).json()) as AmAlert[];
    return new Map(alerts.map((a) => [`${a.labels.alertname} ${a.labels.job}`, a.status.state]));
  };
  await eventually(async () => (await stateOf()).size === 4, 10_000, 'four alerts at Alertmanager');
  const states = await stateOf();
  t.equal(states.get('PostgresDown pgvigil'), 'active', 'the outage pages');
  t.equal(states.get('PostgresClientPoolAcquireTimeouts checkout'), 'suppressed', 'its applications do not');
  t.equal(states.get('PostgresClientPoolAcquireSlow checkout'), 'suppressed');
  t.equal(states.get('PostgresClientPoolAcquireTimeouts billing'), 'active', 'another cluster still pages');
});
