import type { ServerFacts } from '../server-facts.js';
import type {
  CollectorSpec,
  FamilySpec,
  MetricSpec,
  Privilege,
  QuerySpec,
  SqlVariant,
  Unit,
} from './collector-spec.js';
import { variantApplies } from './variants.js';

// The checks defineCollector runs on every collector definition when its module loads (and the
// unit test runs on all of them), so a bad definition stops pgvigil at start-up instead of
// failing a poll, or worse, exporting a wrong name.

const COLLECTOR_NAME = /^[a-z][a-z0-9_]*$/;
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const VARIABLE_NAME = /^PGVIGIL_[A-Z0-9_]+$/;
const UNITS: readonly Unit[] = ['seconds', 'bytes', 'ratio'];
/** Units Prometheus names must not use: convert to the base unit in SQL instead. */
const NON_BASE_UNITS = /_(milliseconds|microseconds|ms|us|kb|mb|gb|minutes|hours|days|percent)(_total)?$/;
/** Majors the variant ranges are checked over: every supported one, with margin either side. */
const MAJORS = Array.from({ length: 14 }, (_, i) => 9 + i);
const PRIVILEGES: readonly Privilege[] = ['superuser', 'pg_monitor', 'pg_ls_waldir'];

export class CollectorDefinitionError extends Error {
  constructor(collector: string, problem: string) {
    super(`collector ${collector}: ${problem}`);
    this.name = 'CollectorDefinitionError';
  }
}

function unitOf(name: string): Unit | undefined {
  const base = name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
  return UNITS.find((u) => base.endsWith(`_${u}`));
}

/** What every family must satisfy, mapped from rows or built by code: name, help, type, unit, prefix. */
function checkFamily(spec: CollectorSpec<unknown, unknown>, m: FamilySpec, fail: (problem: string) => never): void {
  if (!METRIC_NAME.test(m.name)) fail(`invalid metric name ${JSON.stringify(m.name)}`);
  if (m.help.trim() === '') fail(`${m.name} has no help`);
  if (m.type === 'counter' && !m.name.endsWith('_total')) fail(`counter ${m.name} must end in _total`);
  if (m.type !== 'counter' && m.name.endsWith('_total')) fail(`${m.name}: _total is reserved for counters`);
  if (NON_BASE_UNITS.test(m.name)) fail(`${m.name}: use base units (seconds, bytes), converted in SQL`);
  if (unitOf(m.name) !== m.unit) {
    fail(`${m.name}: unit ${m.unit ?? '(none)'} does not match the name (which says ${unitOf(m.name) ?? 'none'})`);
  }
  const prefixes = spec.subsystems ?? [`pg_${spec.name}`];
  if (!prefixes.some((p) => m.name === p || m.name.startsWith(`${p}_`))) {
    fail(`${m.name} is outside its subsystems ${prefixes.join(', ')}`);
  }
}

function checkMetric(
  spec: CollectorSpec<unknown, unknown>,
  q: QuerySpec<Record<string, never>>,
  m: MetricSpec<Record<string, never>>,
  fail: (problem: string) => never,
): void {
  checkFamily(spec, m, fail);
  const columns = q.columns as Record<string, string>;
  const labels = [...(q.datnameLabel === true ? ['datname'] : []), ...((m.labels ?? []) as string[])];
  if (typeof m.value === 'object') labels.push(m.value.label);
  for (const label of labels) {
    if (!LABEL_NAME.test(label) || label.startsWith('__'))
      fail(`${m.name}: invalid label name ${JSON.stringify(label)}`);
  }
  if (new Set(labels).size !== labels.length) fail(`${m.name}: a label appears twice (${labels.join(', ')})`);
  for (const label of (m.labels ?? []) as string[]) {
    if (columns[label] !== 'text') fail(`${m.name}: label column ${label} is not a text column of the query`);
  }
  const sources = typeof m.value === 'object' ? Object.values(m.value.values) : [m.value];
  for (const source of sources) {
    if (typeof source === 'string' && columns[source] !== 'float' && columns[source] !== 'float?') {
      fail(`${m.name}: value column ${source} is not a numeric column of the query`);
    }
  }
}

/** Fake facts for every combination that can tell variants apart. */
function factsGrid(variants: readonly SqlVariant[]): ServerFacts[] {
  const extensionNames = [...new Set(variants.flatMap((v) => (v.extension === undefined ? [] : [v.extension.name])))];
  let extensionStates: Map<string, string>[] = [new Map()];
  for (const name of extensionNames) {
    const bounds = variants.flatMap((v) => (v.extension?.name === name ? [v.extension.from, v.extension.before] : []));
    const versions = [undefined, '0', '99999', ...bounds];
    extensionStates = extensionStates.flatMap((state) =>
      versions.map((version) => (version === undefined ? new Map(state) : new Map([...state, [name, version]]))),
    );
  }
  const grid: ServerFacts[] = [];
  for (const major of MAJORS) {
    for (let bits = 0; bits < 1 << PRIVILEGES.length; bits++) {
      for (const extensions of extensionStates) {
        grid.push({
          serverVersionNum: major * 10000,
          major,
          inRecovery: false,
          datname: 'postgres',
          user: 'pgvigil',
          isSuperuser: (bits & 1) !== 0,
          hasPgMonitor: (bits & 2) !== 0,
          canListWalDir: (bits & 4) !== 0,
          extensions,
          statementsPreloaded: true,
        });
      }
    }
  }
  return grid;
}

function describeFacts(f: ServerFacts): string {
  const extensions = [...f.extensions].map(([n, v]) => `${n} ${v}`).join(', ');
  const roles = `superuser ${f.isSuperuser}, pg_monitor ${f.hasPgMonitor}, pg_ls_waldir ${f.canListWalDir}`;
  return `PostgreSQL ${f.major}, ${roles}${extensions === '' ? '' : `, ${extensions}`}`;
}

/** Throws CollectorDefinitionError on the first problem found. */
export function checkCollectorSpec(spec: CollectorSpec<unknown, unknown>): void {
  const fail = (problem: string): never => {
    throw new CollectorDefinitionError(spec.name, problem);
  };
  if (!COLLECTOR_NAME.test(spec.name)) fail('name must be lower_snake_case');
  if (spec.description.trim() === '') fail('description is empty');
  const interval = spec.defaultIntervalSeconds;
  if (!(interval >= 1 && interval <= 86400)) fail('defaultIntervalSeconds must be 1–86400');
  if (spec.queries.length === 0) fail('no queries');
  const defaultPrefix = `pg_${spec.name}`;
  const ownPrefixes = spec.subsystems?.some((s) => s !== defaultPrefix) === true;
  if (ownPrefixes && (spec.namesReason ?? '').trim() === '') {
    fail(`family prefixes ${spec.subsystems!.join(', ')} differ from ${defaultPrefix}: give namesReason`);
  }
  for (const variable of Object.keys(spec.settings?.variables ?? {})) {
    if (!VARIABLE_NAME.test(variable)) fail(`setting ${variable} must be named PGVIGIL_*`);
  }
  if (spec.needsPostgres === false) {
    if (spec.scope !== 'cluster') fail('a collector without PostgreSQL must have scope cluster');
    if (spec.notApplicable !== undefined || spec.queries.some((q) => q.sql !== undefined)) {
      fail('a collector without PostgreSQL has no SQL and no server facts to plan with');
    }
  }
  const names = new Set<string>();
  for (const [i, q] of spec.queries.entries()) {
    const general = q as unknown as QuerySpec<Record<string, never>>;
    if (q.sql === undefined && q.run === undefined) fail(`query ${i + 1} has neither sql nor run`);
    const variantLists = [
      ...(q.sql !== undefined ? [['SQL variants', q.sql] as const] : []),
      ...Object.entries(q.companionSql ?? {}).map(([name, list]) => [`${name} variants`, list] as const),
    ];
    if (q.companionSql !== undefined && q.run === undefined) fail(`query ${i + 1} has companion SQL but no run`);
    for (const [what, variants] of variantLists) {
      if (variants.length === 0) fail(`query ${i + 1} has an empty list of ${what}`);
      for (const facts of factsGrid(variants)) {
        const matching = variants.filter((v) => variantApplies(v, facts)).length;
        if (matching > 1) {
          fail(`query ${i + 1}: ${matching} ${what} apply to ${describeFacts(facts)}; ranges must not overlap`);
        }
      }
    }
    if (Object.keys(q.columns).length === 0) fail(`query ${i + 1} declares no columns`);
    if ((q.metrics === undefined) === (q.built === undefined)) fail(`query ${i + 1} needs either metrics or built`);
    const own = [
      ...(general.metrics ?? []).map((m) => [m, () => checkMetric(spec, general, m, fail)] as const),
      ...(q.built?.families ?? []).map((m) => [m, () => checkFamily(spec, m, fail)] as const),
    ];
    for (const [m, check] of own) {
      check();
      if (names.has(m.name)) fail(`family ${m.name} is defined twice`);
      names.add(m.name);
    }
  }
}

/** Across collectors: a family name belongs to one collector only. */
export function checkCollectorSet(
  collectors: readonly { readonly name: string; readonly familyNames?: readonly string[] }[],
): void {
  const owner = new Map<string, string>();
  const seen = new Set<string>();
  for (const c of collectors) {
    if (seen.has(c.name)) throw new CollectorDefinitionError(c.name, 'two collectors have this name');
    seen.add(c.name);
    for (const name of c.familyNames ?? []) {
      const previous = owner.get(name);
      if (previous !== undefined) {
        throw new CollectorDefinitionError(c.name, `family ${name} is also defined by ${previous}`);
      }
      owner.set(name, c.name);
    }
  }
}
