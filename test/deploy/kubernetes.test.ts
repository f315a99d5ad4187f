import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { configSchema } from '../../src/pgvigil-config.js';
import type { Kustomization, Manifest, ManifestKinds, VolumeMount } from './kubernetes-manifests.js';

// No cluster here: every manifest is parsed, then checked for what the sidecar needs and for
// the references between objects (labels, port names, secret keys, mounts, env variables);
// the PrometheusRule must be exactly what alerts/ generates, and its rules pass promtool.

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = join(root, 'deploy', 'kubernetes');

const docs: Manifest[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((f) =>
    parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${f}: ${d.errors[0]!.message}`);
      return { ...(d.toJS() as Omit<Manifest, '__file'>), __file: f };
    }),
  );
const byKind = <K extends keyof ManifestKinds>(kind: K) => docs.filter((d) => d.kind === kind) as ManifestKinds[K][];
const one = <K extends keyof ManifestKinds>(kind: K) => {
  const found = byKind(kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
};
const knownVariables = new Set(Object.keys((configSchema as unknown as { properties: object }).properties));

t.test('every manifest parses and names itself', async (t) => {
  for (const d of docs) {
    t.ok(
      typeof d.apiVersion === 'string' && typeof d.kind === 'string' && typeof d.metadata?.name === 'string',
      `${d.__file}: ${d.kind}/${d.metadata?.name}`,
    );
  }
  const kustomization = parseAllDocuments(
    readFileSync(join(dir, 'kustomization.yaml'), 'utf8'),
  )[0]!.toJS() as Kustomization;
  const files = new Set(readdirSync(dir));
  for (const r of kustomization.resources) t.ok(files.has(r), `kustomization resource ${r} exists`);
  t.same(
    [...new Set(docs.map((d) => d.__file))].sort(),
    [...kustomization.resources].sort(),
    'kustomization lists every manifest',
  );
});

t.test('the pgvigil sidecar', async (t) => {
  const deployment = one('Deployment');
  const pod = deployment.spec.template.spec;
  t.same(
    deployment.spec.selector.matchLabels,
    pick(deployment.spec.template.metadata.labels, Object.keys(deployment.spec.selector.matchLabels)),
    'selector matches pod labels',
  );
  const sidecar = pod.containers.find((c) => c.name === 'pgvigil')!;
  t.ok(sidecar, 'a pgvigil container next to the application container');
  t.ok(pod.containers.length >= 2, 'it is a sidecar');
  const ports = new Map((sidecar.ports ?? []).map((p) => [p.name, p.containerPort]));
  t.equal(ports.get('metrics'), 9630, 'metrics port 9630');
  t.equal(sidecar.livenessProbe!.httpGet.path, '/healthz');
  t.equal(sidecar.readinessProbe!.httpGet.path, '/readyz');
  t.ok(
    ports.has(sidecar.livenessProbe!.httpGet.port) && ports.has(sidecar.readinessProbe!.httpGet.port),
    'probes use a declared port',
  );
  t.ok(
    sidecar.resources?.requests?.cpu && sidecar.resources?.requests?.memory && sidecar.resources?.limits?.memory,
    'cpu/memory requests and a memory limit',
  );
  const sc = sidecar.securityContext!;
  t.equal(sc.runAsNonRoot, true);
  t.ok(sc.runAsUser! > 0, 'numeric non-root uid');
  t.equal(sc.readOnlyRootFilesystem, true);
  t.equal(sc.allowPrivilegeEscalation, false);
  t.same(sc.capabilities!.drop, ['ALL']);

  const env = new Map(sidecar.env!.map((e) => [e.name, e]));
  for (const name of env.keys()) t.ok(knownVariables.has(name), `${name} is a pgvigil configuration variable`);
  for (const e of env.values()) t.notOk(e.valueFrom?.secretKeyRef, `${e.name}: secrets come from files, not env`);
  const mounts = sidecar.volumeMounts!;
  const volumes = new Map(pod.volumes!.map((v) => [v.name, v]));
  const volumeOf = (mount: VolumeMount | undefined) => (mount === undefined ? undefined : volumes.get(mount.name));
  const secret = one('Secret');
  const secretKeys = new Set(Object.keys(secret.stringData ?? secret.data ?? {}));
  const fileVars = [...env.keys()].filter((n) => n.endsWith('_FILE'));
  t.ok(
    fileVars.includes('PGPASSWORD_FILE') || fileVars.includes('DATABASE_URL_FILE'),
    'database secret via PGPASSWORD_FILE or DATABASE_URL_FILE',
  );
  for (const name of fileVars) {
    const path = env.get(name)!.value!;
    const mount = mounts.find((m) => path.startsWith(`${m.mountPath}/`));
    t.ok(mount?.readOnly, `${name}: under a read-only mount`);
    const volume = volumeOf(mount);
    t.equal(volume?.secret?.secretName, secret.metadata.name, `${name}: that mount is the Secret`);
    const file = path.slice(mount!.mountPath.length + 1);
    const items = volume!.secret!.items ?? [...secretKeys].map((k) => ({ key: k, path: k }));
    const item = items.find((i) => i.path === file);
    t.ok(item && secretKeys.has(item.key), `${name}: ${file} is a key of the Secret`);
  }
  const dataPath = env.get('PGVIGIL_DATA_VOLUME_PATH')?.value;
  const dataMount = mounts.find((m) => m.mountPath === dataPath);
  t.ok(dataMount?.readOnly, 'PGVIGIL_DATA_VOLUME_PATH is a read-only mount');
  const app = pod.containers.find((c) => c.name !== 'pgvigil')!;
  t.ok(
    app.volumeMounts!.some((m) => m.name === dataMount?.name),
    'the same volume the database writes',
  );
  const claim = volumeOf(dataMount)?.persistentVolumeClaim?.claimName;
  t.ok(
    byKind('PersistentVolumeClaim').some((c) => c.metadata.name === claim),
    'its claim is defined',
  );
  const argv = app.args!.join(' ');
  t.match(argv, /shared_preload_libraries=pg_stat_statements/, 'PostgreSQL preloads pg_stat_statements');
  const init = one('ConfigMap');
  t.match(Object.values(init.data).join('\n'), /IN ROLE pg_monitor/, 'the pgvigil role gets pg_monitor, nothing more');
});

t.test('Service and ServiceMonitor find the sidecar', async (t) => {
  const pod = one('Deployment').spec.template;
  const service = one('Service');
  t.same(
    pick(pod.metadata.labels, Object.keys(service.spec.selector)),
    service.spec.selector,
    'Service selects the pod',
  );
  const sidecarPorts = pod.spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.name);
  for (const p of service.spec.ports) t.ok(sidecarPorts.includes(p.targetPort), `targetPort ${p.targetPort} exists`);
  const monitor = one('ServiceMonitor');
  t.same(
    pick(service.metadata.labels, Object.keys(monitor.spec.selector.matchLabels)),
    monitor.spec.selector.matchLabels,
    'ServiceMonitor selects the Service',
  );
  const secret = one('Secret');
  for (const ep of monitor.spec.endpoints) {
    t.ok(
      service.spec.ports.some((p) => p.name === ep.port),
      `endpoint port ${ep.port} is a Service port`,
    );
    t.equal(ep.authorization?.credentials?.name, secret.metadata.name, 'bearer token from the Secret');
    t.ok(ep.authorization!.credentials!.key in secret.stringData!, 'the token key exists');
  }
  const token = one('Deployment')
    .spec.template.spec.containers.find((c) => c.name === 'pgvigil')!
    .env!.find((e) => e.name === 'PGVIGIL_AUTH_TOKEN_FILE');
  t.ok(token?.value?.endsWith('/metrics-token'), 'pgvigil checks the same token');
});

t.test('PrometheusRule is generated from alerts/ and its rules pass promtool', async (t) => {
  execFileSync(process.execPath, [join(dir, 'generate-prometheusrule.mjs'), '--check'], { stdio: 'pipe' });
  t.pass('prometheusrule.yaml matches what alerts/*.yml generate');
  const rule = one('PrometheusRule');
  const work = mkdtempSync(join(tmpdir(), 'pgvigil-rules-'));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const file = join(work, 'rules.json');
  writeFileSync(file, JSON.stringify({ groups: rule.spec.groups }));
  const out = execFileSync('promtool', ['check', 'rules', file], { encoding: 'utf8' });
  t.match(out, /SUCCESS: \d+ rules found/, 'promtool check rules');
  const alertCount = rule.spec.groups.flatMap((g) => g.rules).filter((r) => r.alert).length;
  t.comment(`${rule.spec.groups.length} groups, ${alertCount} alerts`);
});

function pick(obj: Record<string, string> | undefined, keys: string[]): Record<string, string | undefined> {
  return Object.fromEntries(keys.map((k) => [k, obj?.[k]]));
}
