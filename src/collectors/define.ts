import type { Logger } from 'pino';
import type { Config, SettingsSpec } from '../config.js';
import { counter, type Family, gauge, type Labels, type ValueSample } from '../exposition/families.js';
import type { ServerFacts } from '../server-facts.js';
import { checkCollectorSpec } from './check-definition.js';
import type {
  CollectorSpec,
  Columns,
  FamilySpec,
  MetricSpec,
  PlannedSql,
  QuerySpec,
  RowOf,
  RunInput,
  ValueSource,
} from './collector-spec.js';
import type { CollectContext, Collector, CollectorDefinition } from './types.js';
import { describeRange, inRange, variantApplies } from './variants.js';

// defineCollector checks a collector definition (the data shape in collector-spec.ts) when the
// module loads and compiles it to the runtime CollectorDefinition the poller runs. Which SQL variant
// and which families apply is planned once per set of server facts (one connection to one server),
// never decided inside a poll.

/** Types one query: its metrics are checked against its columns. */
export function query<const C extends Columns, Settings = unknown, State = unknown>(
  spec: QuerySpec<C, Settings, State>,
): QuerySpec<C, Settings, State> {
  return spec;
}

/** The compiled collector, with its definition kept for checks and documentation. */
/**
 * The rows of a query that serves what another query of the same collector stored for this
 * database in its run (totals over rows that query read but did not keep): none before the first.
 */
export function storedRow<Row>(byDatabase: ReadonlyMap<string, Row>, datname: string): Row[] {
  const row = byDatabase.get(datname);
  return row === undefined ? [] : [row];
}

export interface DefinedCollector<Settings = unknown, State = unknown> extends CollectorDefinition {
  readonly spec: CollectorSpec<Settings, State>;
  /** Every family name this collector can emit. */
  readonly familyNames: readonly string[];
}

interface QueryPlan {
  readonly query: QuerySpec<Columns>;
  readonly sql: string | undefined;
  readonly companions: PlannedSql;
  readonly metrics: readonly MetricSpec<Columns>[];
}

type Plan =
  | { readonly notApplicable: string }
  | { readonly notApplicable?: undefined; readonly queries: readonly QueryPlan[] };

/** The plan for one server: which SQL variant of each query, which families; or why none. */
function planFor(spec: CollectorSpec<unknown, unknown>, facts: ServerFacts): Plan {
  const reason = spec.notApplicable?.(facts);
  if (reason !== undefined) return { notApplicable: reason };
  const queries: QueryPlan[] = [];
  for (const [i, q] of spec.queries.entries()) {
    let sql: string | undefined;
    if (q.sql !== undefined) {
      const variant = q.sql.find((v) => variantApplies(v, facts));
      if (variant === undefined) {
        const servers = q.sql.map((v) => describeRange(v.server)).join(', ');
        const reason = `query ${i + 1} has no variant for PostgreSQL ${facts.major} (variants for: ${servers})`;
        return { notApplicable: reason };
      }
      sql = variant.sql;
    }
    const companions = Object.fromEntries(
      Object.entries(q.companionSql ?? {}).map(([name, variants]) => [
        name,
        variants.find((v) => variantApplies(v, facts))?.sql,
      ]),
    );
    const metrics = (q.metrics ?? []).filter((m) => inRange(facts.major, m.server));
    queries.push({ query: q, sql, companions, metrics });
  }
  return { queries };
}

/** The plan of a collector that never reads server facts (needsPostgres: false, or no SQL at all). */
function staticPlan(spec: CollectorSpec<unknown, unknown>): Plan {
  return { queries: spec.queries.map((q) => ({ query: q, sql: undefined, companions: {}, metrics: q.metrics ?? [] })) };
}

function readValue(source: ValueSource<Columns>, row: Record<string, unknown>): number | null | undefined {
  return typeof source === 'function' ? source(row as RowOf<Columns>) : (row[source] as number | null | undefined);
}

/** Checks the first row against the declared shape, so a variant returning other columns fails loudly. */
export function checkRowShape(collector: string, columns: Columns, row: Record<string, unknown> | undefined): void {
  if (row === undefined) return;
  for (const [column, kind] of Object.entries(columns)) {
    const v = row[column];
    const ok =
      kind === 'text'
        ? typeof v === 'string'
        : kind === 'bool' || kind === 'bool?'
          ? typeof v === 'boolean' || (kind === 'bool?' && v === null)
          : typeof v === 'number' || (kind === 'float?' && v === null);
    const got = v === null ? 'null' : typeof v;
    if (!ok) throw new Error(`collector ${collector}: column ${column} should be ${kind}, the query returned ${got}`);
  }
}

/** The families of one query's rows. Each row's labels object is built once and shared by its families. */
export function mapRows(q: QueryPlan, rows: readonly Record<string, unknown>[], datname: string): Family[] {
  if (rows.length === 0 && q.query.noRowsNoFamilies === true) return [];
  const labelSets = new Map<string, Labels[]>();
  const labelsFor = (columns: readonly string[]): Labels[] => {
    const key = columns.join(',');
    let sets = labelSets.get(key);
    if (sets === undefined) {
      sets = rows.map((row) => {
        const labels: Record<string, string> = q.query.datnameLabel === true ? { datname } : {};
        for (const c of columns) labels[c] = row[c] as string;
        return labels;
      });
      labelSets.set(key, sets);
    }
    return sets;
  };
  const families: Family[] = [];
  for (const m of q.metrics) {
    const labels = labelsFor(m.labels ?? []);
    const samples: ValueSample[] = [];
    const value = m.value;
    if (typeof value === 'object') {
      const entries = Object.entries(value.values);
      for (let i = 0; i < rows.length; i++) {
        for (const [labelValue, source] of entries) {
          const v = readValue(source, rows[i]!);
          if (typeof v === 'number') samples.push({ labels: { ...labels[i]!, [value.label]: labelValue }, value: v });
        }
      }
    } else {
      for (let i = 0; i < rows.length; i++) {
        const v = readValue(value, rows[i]!);
        if (typeof v === 'number') samples.push({ labels: labels[i]!, value: v });
      }
    }
    if (samples.length === 0 && m.omitWhenEmpty === true) continue;
    families.push(m.type === 'counter' ? counter(m.name, m.help, samples) : gauge(m.name, m.help, samples));
  }
  return families;
}

/** The families of one query's rows, as a poll on any server would map them (for unit tests of pure mappings). */
export function familiesOf<C extends Columns>(
  q: QuerySpec<C, never, never>,
  rows: readonly RowOf<C>[],
  datname = '',
): Family[] {
  const general = q as unknown as QuerySpec<Columns>;
  return mapRows({ query: general, sql: undefined, companions: {}, metrics: general.metrics ?? [] }, rows, datname);
}

/** Every family name a collector can emit, in order. */
export function familyNamesOf(spec: CollectorSpec<unknown, unknown>): string[] {
  return spec.queries.flatMap((q) => [...(q.metrics ?? []), ...(q.built?.families ?? [])].map((m) => m.name));
}

/** Every family built by code must be one its query declares, with the declared type. */
export function checkBuiltFamilies(
  collector: string,
  declared: readonly FamilySpec[],
  families: readonly Family[],
): void {
  const types = new Map(declared.map((f) => [f.name, f.type]));
  for (const f of families) {
    const type = types.get(f.name);
    if (type === undefined) throw new Error(`collector ${collector}: built family ${f.name} is not declared`);
    if (type !== f.type) {
      throw new Error(`collector ${collector}: built family ${f.name} is a ${f.type}, declared ${type}`);
    }
  }
}

/**
 * Checks a collector definition (throws, naming the collector and the problem) and compiles it to
 * what the poller runs. Called at module load: a bad definition stops pgvigil at start-up.
 */
export function defineCollector<Settings = Record<string, never>, State = undefined>(
  spec: CollectorSpec<Settings, State>,
): DefinedCollector<Settings, State> {
  const general = spec as unknown as CollectorSpec<unknown, unknown>;
  checkCollectorSpec(general);
  const plansFromFacts = spec.queries.some(
    (q) => q.sql !== undefined || q.companionSql !== undefined || (q.metrics ?? []).some((m) => m.server !== undefined),
  );
  const needsFacts = spec.needsPostgres !== false && (spec.notApplicable !== undefined || plansFromFacts);
  const fixed = needsFacts ? undefined : staticPlan(general);
  const settingsOf = (config: Config): Settings =>
    (config.collectorSettings.get(spec.name) ?? spec.settings?.resolve({}, {}, []) ?? {}) as Settings;
  const definition: DefinedCollector<Settings, State> = {
    spec,
    familyNames: familyNamesOf(general),
    name: spec.name,
    description: spec.description,
    scope: spec.scope,
    defaultIntervalSeconds: spec.defaultIntervalSeconds,
    ...(spec.settings !== undefined ? { settings: spec.settings as SettingsSpec<unknown> } : {}),
    ...(spec.needsPostgres !== undefined ? { needsPostgres: spec.needsPostgres } : {}),
    ...(needsFacts
      ? {
          notApplicable: (facts: ServerFacts) => {
            const plan = planFor(general, facts);
            return plan.notApplicable;
          },
        }
      : {}),
    ...(spec.unconfigured !== undefined
      ? { unconfigured: (config: Config) => spec.unconfigured!(settingsOf(config)) }
      : {}),
    create(config: Config, log: Logger): Collector {
      const settings = settingsOf(config);
      const state = (spec.state?.(settings, config, log) ?? undefined) as State;
      // One plan per facts object: the pool reads facts once per connection (and refreshes them
      // every few minutes), so a plan is made once per connection to a server, not per poll.
      const plans = new WeakMap<ServerFacts, Plan>();
      const planOf = (ctx: CollectContext): Plan => {
        if (fixed !== undefined) return fixed;
        let plan = plans.get(ctx.facts);
        if (plan === undefined) {
          plan = planFor(general, ctx.facts);
          plans.set(ctx.facts, plan);
        }
        return plan;
      };
      const collector: Collector = {
        families: definition.familyNames,
        async collect(ctx: CollectContext): Promise<Family[]> {
          const plan = planOf(ctx);
          if (plan.notApplicable !== undefined) {
            throw new Error(`collector ${spec.name} is not applicable: ${plan.notApplicable}`);
          }
          const input: RunInput<Settings, State> = { query: ctx.query, ctx, settings, state, config };
          const families: Family[] = [];
          for (const q of plan.queries) {
            const run = q.query.run as QuerySpec<Columns, Settings, State>['run'];
            const read = run !== undefined ? await run(input, q.sql, q.companions) : await ctx.query(q.sql!);
            const rows = read as Record<string, unknown>[];
            checkRowShape(spec.name, q.query.columns, rows[0]);
            const built = q.query.built as QuerySpec<Columns, Settings, State>['built'];
            if (built === undefined) {
              families.push(...mapRows(q, rows, ctx.datname));
              continue;
            }
            const own = await built.build(input, rows as RowOf<Columns>[]);
            checkBuiltFamilies(spec.name, built.families, own);
            families.push(...own);
          }
          return families;
        },
        ...(spec.close !== undefined ? { close: () => spec.close!(state) } : {}),
      };
      return spec.expose === undefined ? collector : Object.assign(collector, spec.expose(state));
    },
  };
  return definition;
}
