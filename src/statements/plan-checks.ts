import { OTHER_CLASS, type QueryClass } from 'pgvigil-pool/classes';
import type { Logger } from 'pino';
import type { FamilySpec } from '../collectors/collector-spec.js';
import type { QueryFn } from '../collectors/types.js';
import { counter, type Family, gauge, type Labels } from '../exposition/families.js';
import type { EntryState } from './entry-states.js';
import { type ExplainNode, type PlanShape, planShape } from './plan-shape.js';
import { isExplainable } from './slow-log.js';
import { type CachedText, textKey } from './text-cache.js';

// Plan checks: do the top statements, and every statement of a configured class, use indexes?
// Each is planned with EXPLAIN (GENERIC_PLAN) — PostgreSQL 16+, which plans the normalized text
// with its $n parameters and never executes it — in its own transaction of pgvigil's read-only
// session, under a statement_timeout and a lock_timeout (EXPLAIN takes AccessShareLock on every
// relation it plans, so it must not queue behind DDL). At most PGVIGIL_PLAN_CHECKS_PER_POLL plans
// per poll; a plan is kept until one of its relations changes (rewritten, an index added or
// dropped, its row estimate moved by a quarter: the inputs of the planner), the statement's
// interval mean doubles against the mean it had when checked, or PGVIGIL_PLAN_RECHECK_SECONDS pass.
//
// Only statements of the database pgvigil's statements collector is connected to can be planned
// (EXPLAIN runs on that connection). EXPLAIN checks the same privileges running the statement
// would: a role with only pg_monitor is refused (SQLSTATE 42501) and the check is counted as
// result="permission"; SELECT on the tables (pg_read_all_data on 14+) lets it plan reads, and
// INSERT/UPDATE/DELETE statements need those privileges too.

export interface PlanCheckSettings {
  readonly planChecks: boolean;
  readonly planChecksPerPoll: number;
  readonly planSeqScanMinBytes: number;
  readonly planRecheckMs: number;
  readonly textTimeoutMs: number;
  readonly classes: readonly QueryClass[];
}

export type CheckResult = 'ok' | 'permission' | 'timeout' | 'failed' | 'not_explainable';
const RESULTS: readonly CheckResult[] = ['ok', 'permission', 'timeout', 'failed', 'not_explainable'];

/** The plan summary GET /api/statements shows for a statement. */
export interface ApiPlan {
  readonly checked_at: string;
  readonly result: CheckResult;
  readonly total_cost: number | null;
  /** Relations at least PGVIGIL_PLAN_SEQ_SCAN_MIN_TABLE_BYTES read by a sequential scan. */
  readonly seq_scans_on_large_tables: readonly string[];
  readonly indexes: readonly string[];
  /** When the plan shape last changed (null: not since pgvigil started checking it). */
  readonly changed_at: string | null;
}

interface CheckedPlan {
  readonly at: number;
  readonly result: CheckResult;
  readonly totalCost: number | null;
  readonly shape: PlanShape | undefined;
  readonly largeSeqScans: readonly string[];
  /** Version of each relation the plan reads, when checked. */
  readonly versions: ReadonlyMap<string, string>;
  /** Interval mean of the statement when checked (a doubling makes the plan stale). */
  readonly meanSeconds: number;
  readonly changedAt: number | null;
}

// A relation's version: what, changed, makes the planner choose again. reltuples in buckets of
// 25 % so steady growth does not re-plan every poll.
const RELATIONS_SQL = `
SELECT n.nspname || '.' || c.relname AS relation,
       (c.relpages::float8 * current_setting('block_size')::float8) AS bytes,
       c.relfilenode::text || '/' || floor(ln(greatest(c.reltuples, 0) + 2) / ln(1.25))::text || '/' ||
         coalesce((SELECT string_agg(i.indexrelid::text, ',' ORDER BY i.indexrelid)
                   FROM pg_index i WHERE i.indrelid = c.oid AND i.indisvalid), '') AS version
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE (n.nspname, c.relname) IN (SELECT * FROM unnest($1::text[], $2::text[]))`;

interface RelationRow {
  relation: string;
  bytes: number;
  version: string;
}

async function readRelations(query: QueryFn, relations: readonly string[]): Promise<Map<string, RelationRow>> {
  if (relations.length === 0) return new Map();
  const split = relations.map((r) => {
    const dot = r.indexOf('.');
    return [r.slice(0, dot), r.slice(dot + 1)] as const;
  });
  const rows = await query<RelationRow>(RELATIONS_SQL, [split.map((s) => s[0]), split.map((s) => s[1])]);
  return new Map(rows.map((r) => [r.relation, r]));
}

const PERMISSION_DENIED = '42501';
const LOCK_NOT_AVAILABLE = '55P03';
const QUERY_CANCELED = '57014';

function resultOf(err: unknown): CheckResult {
  const code = (err as { code?: unknown }).code;
  if (code === PERMISSION_DENIED) return 'permission';
  if (code === LOCK_NOT_AVAILABLE || code === QUERY_CANCELED) return 'timeout';
  return 'failed';
}

type Explained = { root: ExplainNode } | { result: CheckResult; err: unknown };

async function explain(query: QueryFn, text: string, timeoutMs: number): Promise<Explained> {
  const ms = Math.max(1, Math.round(timeoutMs));
  await query('BEGIN');
  try {
    await query(`SET LOCAL statement_timeout = ${ms}`);
    await query(`SET LOCAL lock_timeout = ${ms}`);
    const rows = await query<{ 'QUERY PLAN': [{ Plan: ExplainNode }] }>(
      `EXPLAIN (GENERIC_PLAN, VERBOSE, FORMAT JSON) ${text}`,
    );
    const root = rows[0]?.['QUERY PLAN'][0]?.Plan;
    return root === undefined ? { result: 'failed', err: new Error('EXPLAIN returned no plan') } : { root };
  } catch (err) {
    return { result: resultOf(err), err };
  } finally {
    await query('ROLLBACK').catch(() => undefined);
  }
}

export const PLAN_CHECK_FAMILIES = {
  checked: {
    name: 'pg_statement_class_plan_checked_statements',
    type: 'gauge',
    help:
      'PostgreSQL 16+: statements of the class (top statements and every statement of a configured class, on ' +
      "the statements collector's database) with a generic plan checked.",
  },
  seqScan: {
    name: 'pg_statement_class_plan_seq_scan_statements',
    type: 'gauge',
    help:
      'PostgreSQL 16+: checked statements of the class whose generic plan reads a table of at least ' +
      'PGVIGIL_PLAN_SEQ_SCAN_MIN_TABLE_BYTES by a sequential scan.',
  },
  changes: {
    name: 'pg_statement_class_plan_changes_total',
    type: 'counter',
    help: 'PostgreSQL 16+: re-checks of a statement of the class that found a different plan shape.',
  },
  seqScanInfo: {
    name: 'pg_statement_plan_seq_scan_info',
    type: 'gauge',
    help:
      'PostgreSQL 16+: a top statement whose generic plan reads large tables by sequential scan; relations: ' +
      'those tables (comma-separated).',
  },
  checks: {
    name: 'pgvigil_statements_plan_checks_total',
    type: 'counter',
    help:
      'Plans obtained with EXPLAIN (GENERIC_PLAN), by result (permission: the role may not plan the statement; ' +
      'not_explainable: utility statement, cut or still holding literals).',
  },
} as const satisfies Record<string, FamilySpec>;

/** Label set of a statement's per-statement series (the one the counters use). */
export type StatementLabels = (state: EntryState) => Labels;

export interface PlanCheckInput {
  readonly now: number;
  readonly major: number;
  readonly connectionDatname: string;
  readonly entries: ReadonlyMap<string, EntryState>;
  readonly members: ReadonlySet<string>;
  readonly textOf: (state: EntryState) => CachedText | undefined;
  readonly query: QueryFn;
}

/** Plans are kept per statement text: (dbid, userid, queryid), whatever the toplevel. */
const planKey = (state: EntryState) => textKey(state.sample.dbid, state.sample.userid, state.sample.queryid);

export class PlanChecks {
  private readonly plans = new Map<string, CheckedPlan>();
  private readonly changes = new Map<string, number>();
  private readonly results = new Map<CheckResult, number>(RESULTS.map((r) => [r, 0]));
  private readonly configured: ReadonlySet<string>;
  private saidUnavailable = false;
  private saidPermission = false;

  constructor(
    private readonly settings: PlanCheckSettings,
    private readonly log: Logger,
  ) {
    this.configured = new Set(settings.classes.map((c) => c.name));
  }

  /** Whether this server can plan generically; says once when it cannot. */
  private available(major: number): boolean {
    if (!this.settings.planChecks) return false;
    if (major >= 16) return true;
    if (!this.saidUnavailable) {
      this.saidUnavailable = true;
      this.log.info({ major }, 'plan checks: EXPLAIN (GENERIC_PLAN) is not available before PostgreSQL 16');
    }
    return false;
  }

  /**
   * The statements to check, once per text: both toplevel variants of an entry share its text, and
   * so do the nested entries pg_stat_statements (track = all) records for pgvigil's own EXPLAINs.
   */
  private candidates(input: PlanCheckInput): Map<string, { state: EntryState; member: boolean }> {
    const out = new Map<string, { state: EntryState; member: boolean }>();
    for (const [key, state] of input.entries) {
      if (state.sample.datname !== input.connectionDatname) continue;
      const member = input.members.has(key);
      if (!member && !this.configured.has(state.className)) continue;
      const tk = planKey(state);
      const seen = out.get(tk);
      if (seen === undefined || (member && !seen.member) || state.score > seen.state.score) {
        out.set(tk, { state, member: member || seen?.member === true });
      }
    }
    return out;
  }

  /**
   * Plans what is due this poll (at most PGVIGIL_PLAN_CHECKS_PER_POLL), dropping what left the view.
   * A failure here (the relation read timing out) leaves the plans as they were: the statistics
   * this poll read are good without them.
   */
  async check(input: PlanCheckInput): Promise<void> {
    if (!this.available(input.major)) return;
    try {
      await this.checkDue(input);
    } catch (err) {
      this.log.warn({ err }, 'plan checks failed this poll');
    }
  }

  private async checkDue(input: PlanCheckInput): Promise<void> {
    const candidates = this.candidates(input);
    for (const key of this.plans.keys()) if (!candidates.has(key)) this.plans.delete(key);

    const stale = await this.staleKeys(input, candidates);
    const due = [...candidates]
      .filter(([key, c]) => input.textOf(c.state) !== undefined && (!this.plans.has(key) || stale.has(key)))
      // Never checked before stale ones, top statements before the rest, then by recent time.
      .sort(
        ([a, x], [b, y]) =>
          Number(this.plans.has(a)) - Number(this.plans.has(b)) ||
          Number(y.member) - Number(x.member) ||
          y.state.score - x.state.score,
      )
      .slice(0, this.settings.planChecksPerPoll);
    for (const [key, { state }] of due) await this.checkOne(key, state, input);
  }

  /** Plans whose relations changed, whose statement got twice as slow, or that are old. */
  private async staleKeys(
    input: PlanCheckInput,
    candidates: ReadonlyMap<string, { state: EntryState }>,
  ): Promise<Set<string>> {
    const stale = new Set<string>();
    const relations = new Set<string>();
    for (const [key, plan] of this.plans) {
      if (input.now - plan.at >= this.settings.planRecheckMs) stale.add(key);
      const { calls, exec_seconds: seconds } = candidates.get(key)?.state.delta ?? { calls: 0, exec_seconds: 0 };
      if (calls > 0 && plan.meanSeconds > 0 && seconds / calls >= 2 * plan.meanSeconds) stale.add(key);
      for (const r of plan.versions.keys()) relations.add(r);
    }
    const now = await readRelations(input.query, [...relations]);
    for (const [key, plan] of this.plans) {
      for (const [r, version] of plan.versions) if (now.get(r)?.version !== version) stale.add(key);
    }
    return stale;
  }

  private async checkOne(key: string, state: EntryState, input: PlanCheckInput): Promise<void> {
    const text = input.textOf(state)!;
    const { calls, exec_seconds: seconds } = state.delta;
    const meanSeconds = calls > 0 ? seconds / calls : state.sample.meanSeconds;
    const previous = this.plans.get(key);
    const failed = (result: CheckResult): CheckedPlan => ({
      at: input.now,
      result,
      totalCost: null,
      shape: undefined,
      largeSeqScans: [],
      versions: new Map(),
      meanSeconds,
      changedAt: previous?.changedAt ?? null,
    });
    // Redaction left literals or cut the text: what EXPLAIN would plan is not the statement.
    if (text.literals > 0 || text.truncated || !isExplainable(text.text)) {
      this.record(key, failed('not_explainable'));
      return;
    }
    const explained = await explain(input.query, text.text, this.settings.textTimeoutMs);
    if (!('root' in explained)) {
      if (explained.result === 'permission' && !this.saidPermission) {
        this.saidPermission = true;
        this.log.warn(
          { err: explained.err, queryid: state.sample.queryid },
          'plan checks: permission denied; EXPLAIN needs the privileges the statement needs ' +
            '(e.g. GRANT pg_read_all_data for reads)',
        );
      }
      this.record(key, failed(explained.result));
      return;
    }
    const shape = planShape(explained.root);
    const relations = await readRelations(input.query, shape.relations);
    const changed = previous?.shape !== undefined && previous.shape.shape !== shape.shape;
    if (changed) this.changes.set(state.className, (this.changes.get(state.className) ?? 0) + 1);
    this.record(key, {
      at: input.now,
      result: 'ok',
      totalCost: explained.root['Total Cost'] ?? null,
      shape,
      largeSeqScans: shape.seqScanned.filter(
        (r) => (relations.get(r)?.bytes ?? 0) >= this.settings.planSeqScanMinBytes,
      ),
      versions: new Map(shape.relations.map((r) => [r, relations.get(r)?.version ?? ''])),
      meanSeconds,
      changedAt: changed ? input.now : (previous?.changedAt ?? null),
    });
  }

  private record(key: string, plan: CheckedPlan): void {
    this.results.set(plan.result, (this.results.get(plan.result) ?? 0) + 1);
    this.plans.set(key, plan);
  }

  /** The plan summary of an entry, for GET /api/statements; null when not checked. */
  apiPlan(state: EntryState): ApiPlan | null {
    const plan = this.plans.get(planKey(state));
    if (plan === undefined) return null;
    return {
      checked_at: new Date(plan.at).toISOString(),
      result: plan.result,
      total_cost: plan.totalCost,
      seq_scans_on_large_tables: plan.largeSeqScans,
      indexes: plan.shape?.indexes ?? [],
      changed_at: plan.changedAt === null ? null : new Date(plan.changedAt).toISOString(),
    };
  }

  families(
    major: number,
    entries: ReadonlyMap<string, EntryState>,
    members: ReadonlySet<string>,
    labelsOf: StatementLabels,
  ): Family[] {
    if (!this.settings.planChecks || major < 16) return [];
    const F = PLAN_CHECK_FAMILIES;
    const classes = [...this.configured, OTHER_CLASS];
    const checked = new Map(classes.map((c) => [c, 0]));
    const seqScan = new Map(classes.map((c) => [c, 0]));
    // A text's class is the same for all its entries: count each checked text once.
    const classOf = new Map([...entries.values()].map((state) => [planKey(state), state.className]));
    for (const [key, plan] of this.plans) {
      const className = classOf.get(key);
      if (className === undefined || plan.result !== 'ok') continue;
      checked.set(className, (checked.get(className) ?? 0) + 1);
      if (plan.largeSeqScans.length > 0) seqScan.set(className, (seqScan.get(className) ?? 0) + 1);
    }
    const info = [];
    for (const key of members) {
      const state = entries.get(key)!;
      const plan = this.plans.get(planKey(state));
      if (plan === undefined || plan.largeSeqScans.length === 0) continue;
      const labels = { ...labelsOf(state), class: state.className, relations: plan.largeSeqScans.join(',') };
      info.push({ labels, value: 1 });
    }
    const perClass = (m: Map<string, number>) => [...m].map(([c, value]) => ({ labels: { class: c }, value }));
    return [
      gauge(F.checked.name, F.checked.help, perClass(checked)),
      gauge(F.seqScan.name, F.seqScan.help, perClass(seqScan)),
      counter(F.changes.name, F.changes.help, perClass(new Map(classes.map((c) => [c, this.changes.get(c) ?? 0])))),
      gauge(F.seqScanInfo.name, F.seqScanInfo.help, info),
      counter(
        F.checks.name,
        F.checks.help,
        RESULTS.map((r) => ({ labels: { result: r }, value: this.results.get(r) ?? 0 })),
      ),
    ];
  }
}
