import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { configSchema } from '../../src/pgvigil-config.js';
import type { GrafanaDashboard } from '../helpers/mixin.js';

// No container engine here: the compose file and every config it mounts are parsed and checked
// with the real tools (promtool with the alert pack in place, amtool), and every bind mount must
// point at something in the repository.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(root, 'deploy', 'compose');

// The parts of the files under deploy/compose/ the tests read; YAML parsing promises no more.
interface ComposeService {
  readonly build?: { readonly context: string };
  readonly command?: string[];
  readonly environment?: Record<string, string>;
  /** `host:container[:mode]` bind mounts and `volume:container[:mode]` named volumes. */
  readonly volumes?: string[];
  readonly ports?: string[];
}

interface StaticTargets {
  readonly static_configs: { readonly targets: string[] }[];
}

interface PrometheusConfig {
  readonly scrape_configs: StaticTargets[];
  readonly alerting: { readonly alertmanagers: StaticTargets[] };
}

interface GrafanaDatasources {
  readonly datasources: { readonly type: string; readonly url: string }[];
}

interface GrafanaDashboardProviders {
  readonly providers: { readonly options: { readonly path: string } }[];
}

const compose = parse(readFileSync(join(dir, 'docker-compose.yml'), 'utf8')) as {
  services: Record<string, ComposeService>;
};
const services = compose.services;
const knownVariables = new Set(Object.keys((configSchema as unknown as { properties: object }).properties));

/** host path → container path of the bind mounts of a service (named volumes left out). */
function binds(service: ComposeService): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of service.volumes ?? []) {
    const [host, container] = v.split(':') as [string, string];
    if (host.startsWith('.')) out.set(resolve(dir, host), container);
  }
  return out;
}

t.test('services and mounts', async (t) => {
  t.same(Object.keys(services).sort(), ['alertmanager', 'grafana', 'pgvigil', 'postgres', 'prometheus']);
  t.match(
    services.postgres!.command!.join(' '),
    /shared_preload_libraries=pg_stat_statements/,
    'pg_stat_statements preloaded',
  );
  t.equal(services.pgvigil!.build!.context, '../..', 'pgvigil is built from the repository Dockerfile');
  t.ok(existsSync(join(dir, services.pgvigil!.build!.context, 'Dockerfile')));
  for (const name of Object.keys(services.pgvigil!.environment!))
    t.ok(knownVariables.has(name), `${name} is a pgvigil variable`);
  const volumePath = services.pgvigil!.environment!.PGVIGIL_DATA_VOLUME_PATH;
  t.ok(
    services.pgvigil!.volumes!.includes(`pgdata:${volumePath}:ro`),
    'the data volume, read-only, at PGVIGIL_DATA_VOLUME_PATH',
  );
  t.ok(
    services.postgres!.volumes!.some((v) => v.startsWith('pgdata:')),
    'the same volume the server writes',
  );
  for (const [name, service] of Object.entries(services)) {
    for (const host of binds(service).keys()) t.ok(existsSync(host), `${name}: ${host.slice(root.length + 1)} exists`);
  }
  for (const s of Object.values(services))
    for (const p of s.ports ?? []) t.match(p, /^127\.0\.0\.1:/, `port ${p} bound to loopback only`);
});

t.test('Prometheus config (with the alert pack) passes promtool', async (t) => {
  const mounts = binds(services.prometheus!);
  const work = mkdtempSync(join(tmpdir(), 'pgvigil-compose-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  // Lay the files out as the container sees them under /etc/prometheus.
  for (const [host, container] of mounts)
    cpSync(host, join(work, container.replace(/^\/etc\/prometheus\/?/, '')), { recursive: true });
  const out = execFileSync('promtool', ['check', 'config', join(work, 'prometheus.yml')], { encoding: 'utf8' });
  t.match(out, /SUCCESS: .*prometheus\.yml is valid/);
  const ruleFiles = readdirSync(join(root, 'alerts')).filter((f) => f.endsWith('.yml'));
  for (const f of ruleFiles) t.match(out, `alerts/${f}`, `rule file ${f} found and checked`);
  const config = parse(readFileSync(join(dir, 'prometheus.yml'), 'utf8')) as PrometheusConfig;
  const targets = config.scrape_configs.flatMap((s) => s.static_configs.flatMap((c) => c.targets));
  t.ok(targets.includes('pgvigil:9630'), 'scrapes the pgvigil service');
  t.same(config.alerting.alertmanagers[0]!.static_configs[0]!.targets, ['alertmanager:9093']);
});

t.test('Alertmanager config passes amtool', async (t) => {
  const [host] = [...binds(services.alertmanager!).keys()];
  const out = execFileSync('amtool', ['check-config', host!], { encoding: 'utf8' });
  t.match(out, /SUCCESS/);
});

t.test('Grafana provisions the datasource and every dashboard', async (t) => {
  const mounts = binds(services.grafana!);
  const provisioning = [...mounts].find(([, c]) => c === '/etc/grafana/provisioning')![0];
  const datasources = parse(
    readFileSync(join(provisioning, 'datasources', 'prometheus.yml'), 'utf8'),
  ) as GrafanaDatasources;
  t.equal(datasources.datasources[0]!.type, 'prometheus');
  t.equal(datasources.datasources[0]!.url, 'http://prometheus:9090');
  const providers = parse(
    readFileSync(join(provisioning, 'dashboards', 'pgvigil.yml'), 'utf8'),
  ) as GrafanaDashboardProviders;
  const path = providers.providers[0]!.options.path;
  const dashboardsHost = [...mounts].find(([, c]) => c === path)?.[0];
  t.equal(dashboardsHost, join(root, 'dashboards'), 'provider path is the mounted dashboards/ directory');
  const boards = readdirSync(dashboardsHost!).filter((f) => f.endsWith('.json'));
  t.ok(boards.length > 0);
  for (const f of boards) {
    const board = JSON.parse(readFileSync(join(dashboardsHost!, f), 'utf8')) as GrafanaDashboard;
    t.ok(typeof board.uid === 'string' && board.uid !== '', `${f}: has a uid`);
    const ds = (board.templating?.list ?? []).find((v) => v.type === 'datasource');
    t.equal(ds?.query, 'prometheus', `${f}: datasource variable picks a Prometheus datasource`);
  }
  t.ok(existsSync(join(dashboardsHost!, 'overview.json')), 'the home dashboard exists');
});
