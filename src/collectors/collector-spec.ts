import type { Logger } from 'pino';
import type { Config, SettingsSpec } from '../config.js';
import type { Family } from '../exposition/families.js';
import type { ServerFacts } from '../server-facts.js';
import type { CollectContext, QueryFn } from './types.js';

// The declarative shape every collector is written in: queries (SQL variants for the servers each
// applies to, all returning one declared row shape) with the metrics each row feeds, as data. Types
// only, so the modules that check (check-definition.ts), plan (variants.ts) and compile (define.ts)
// a definition all import it without importing each other in a circle.

/** How a column arrives from node-postgres: cast numbers to float8 in SQL, so they arrive as numbers. */
export type ColumnKind = 'text' | 'float' | 'float?' | 'bool' | 'bool?';
export type Columns = Readonly<Record<string, ColumnKind>>;

type KindType<K> = K extends 'text'
  ? string
  : K extends 'float'
    ? number
    : K extends 'float?'
      ? number | null
      : K extends 'bool'
        ? boolean
        : boolean | null;
export type RowOf<C extends Columns> = { -readonly [K in keyof C]: KindType<C[K]> };
type ColumnsOfKind<C extends Columns, Kind> = { [K in keyof C]: C[K] extends Kind ? K : never }[keyof C] & string;
export type TextColumn<C extends Columns> = ColumnsOfKind<C, 'text'>;
export type NumberColumn<C extends Columns> = ColumnsOfKind<C, 'float' | 'float?'>;

/** A sample's value: a numeric column, or a small transform of the row. null/undefined: no sample. */
export type ValueSource<C extends Columns> = NumberColumn<C> | ((row: RowOf<C>) => number | null | undefined);

/** One sample per entry, the entry's key as the value of `label` (e.g. kind="timed" from column timed). */
export interface ValuesByLabel<C extends Columns> {
  readonly label: string;
  readonly values: Readonly<Record<string, ValueSource<C>>>;
}

/** Base units a family name may end in (before `_total`). */
export type Unit = 'seconds' | 'bytes' | 'ratio';

/** PostgreSQL majors: from (inclusive) up to before (exclusive). */
export interface MajorRange {
  readonly from?: number;
  readonly before?: number;
}

export interface MetricSpec<C extends Columns> {
  /** Full family name, written out so a grep finds this definition. */
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
  /** Required when the name ends in a unit; must agree with it. */
  readonly unit?: Unit;
  /** Text columns that become labels, in this order (after datname when the query adds it). */
  readonly labels?: readonly TextColumn<C>[];
  readonly value: ValueSource<C> | ValuesByLabel<C>;
  /** The family exists only on these majors (its columns are NULL on the others). */
  readonly server?: MajorRange;
  /** Leave the family out, HELP and TYPE included, when it has no sample (a setting the server lacks). */
  readonly omitWhenEmpty?: boolean;
}

/** What the role may do, as ServerFacts tells it. */
export type Privilege = 'superuser' | 'pg_monitor' | 'pg_ls_waldir';

export interface SqlVariant {
  readonly sql: string;
  /** Majors this variant is for; absent: every major. */
  readonly server?: MajorRange;
  /** An extension (installed in the database) and the versions this variant is for. */
  readonly extension?: { readonly name: string; readonly from?: string; readonly before?: string };
  /** Privileges this variant needs (true) or is the fallback for (false). */
  readonly privilege?: Readonly<Partial<Record<Privilege, boolean>>>;
}

/**
 * A family whose samples code builds from the rows (a stateful engine such as the statements
 * engine), declared with its name, type and help so it is checked at load like a mapped metric.
 */
export interface FamilySpec {
  /** Full family name, written out so a grep finds this definition. */
  readonly name: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly help: string;
  /** Required when the name ends in a unit; must agree with it. */
  readonly unit?: Unit;
}

/** The planned SQL of a query's companion statements, by name; undefined where none applies. */
export type PlannedSql = Readonly<Record<string, string | undefined>>;

/** What a query's `run` gets: the poll, the collector's settings and the state it keeps across polls. */
export interface RunInput<Settings, State> {
  readonly query: QueryFn;
  readonly ctx: CollectContext;
  readonly settings: Settings;
  readonly state: State;
  readonly config: Config;
}

export interface QuerySpec<C extends Columns, Settings = unknown, State = unknown> {
  /** The row shape every variant returns, checked on the first row of every result. */
  readonly columns: C;
  /** SQL variants; exactly one applies to a server, or none (then the collector is not applicable there). */
  readonly sql?: readonly SqlVariant[];
  /**
   * How the rows are read when it is more than running the planned SQL once (parameters, retries,
   * caches, another source). Default: ctx.query(sql).
   */
  readonly run?: (
    input: RunInput<Settings, State>,
    sql: string | undefined,
    companions: PlannedSql,
  ) => Promise<RowOf<C>[]> | RowOf<C>[];
  /**
   * Further statements `run` issues besides the main read (a read before and after it, a reset),
   * each with its own variants, planned with it. A companion with no variant for the server is
   * undefined in the plan: run does without it; the collector stays applicable.
   */
  readonly companionSql?: Readonly<Record<string, readonly SqlVariant[]>>;
  /** Label every sample with the database polled (datname), before the label columns. */
  readonly datnameLabel?: boolean;
  /** No rows: none of this query's families (HELP and TYPE included), e.g. no WAL receiver on a primary. */
  readonly noRowsNoFamilies?: boolean;
  /** How each row becomes samples; or, for families code builds, `built`. */
  readonly metrics?: readonly MetricSpec<C>[];
  /**
   * Families built by code from the rows instead of mapped by `metrics`: their declarations (checked
   * at load), and the build (every family it returns must be declared, with the declared type).
   */
  readonly built?: {
    readonly families: readonly FamilySpec[];
    readonly build: (input: RunInput<Settings, State>, rows: RowOf<C>[]) => Promise<Family[]> | Family[];
  };
}

export interface CollectorSpec<Settings = Record<string, never>, State = undefined> {
  /** Config key (PGVIGIL_<NAME>_INTERVAL_SECONDS, PGVIGIL_DISABLED_COLLECTORS) and `collector` label. */
  readonly name: string;
  readonly description: string;
  readonly scope: 'cluster' | 'database';
  readonly defaultIntervalSeconds: number;
  /**
   * Prefixes of every family name. Default `pg_<name>`; anything else needs namesReason (one line:
   * why the family names do not follow the collector name).
   */
  readonly subsystems?: readonly string[];
  readonly namesReason?: string;
  readonly needsPostgres?: boolean;
  readonly settings?: SettingsSpec<Settings>;
  readonly unconfigured?: (settings: Settings) => string | undefined;
  /** Beyond the SQL variants: why the collector does not apply to this server. */
  readonly notApplicable?: (facts: ServerFacts) => string | undefined;
  readonly state?: (settings: Settings, config: Config, log: Logger) => State;
  readonly close?: (state: State) => Promise<void>;
  /** Methods the collector offers beyond collect (e.g. the last role seen, for the /primary route). */
  readonly expose?: (state: State) => object;
  /** Queries run in this order; their families appear in this order. */
  // Each query has its own row shape, checked by query(). QuerySpec is invariant in it (columns
  // give it out, value functions and build take rows in), so no element type but any holds
  // queries of different shapes; the compiled collector reads them back as QuerySpec<Columns>.
  // biome-ignore lint/suspicious/noExplicitAny: a list of queries of different row shapes
  readonly queries: readonly QuerySpec<any, Settings, State>[];
}
