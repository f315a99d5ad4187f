import { type ServerFacts, versionAtLeast } from '../server-facts.js';
import type { MajorRange, Privilege, SqlVariant } from './collector-spec.js';

// Which SQL variant applies to a server: pure functions of the server facts, shared by the plan
// (define.ts) and the overlap check of the definitions (check-definition.ts).

export const PRIVILEGES: Readonly<Record<Privilege, (facts: ServerFacts) => boolean>> = {
  superuser: (f) => f.isSuperuser,
  pg_monitor: (f) => f.hasPgMonitor,
  pg_ls_waldir: (f) => f.canListWalDir,
};

export function inRange(major: number, range: MajorRange | undefined): boolean {
  if (range === undefined) return true;
  return (range.from === undefined || major >= range.from) && (range.before === undefined || major < range.before);
}

export function variantApplies(v: SqlVariant, facts: ServerFacts): boolean {
  if (!inRange(facts.major, v.server)) return false;
  if (v.extension !== undefined) {
    const version = facts.extensions.get(v.extension.name);
    if (version === undefined) return false;
    if (v.extension.from !== undefined && !versionAtLeast(version, v.extension.from)) return false;
    if (v.extension.before !== undefined && versionAtLeast(version, v.extension.before)) return false;
  }
  for (const [name, wanted] of Object.entries(v.privilege ?? {}) as [Privilege, boolean][]) {
    if (PRIVILEGES[name](facts) !== wanted) return false;
  }
  return true;
}

export function describeRange(range: MajorRange | undefined): string {
  if (range?.from !== undefined && range.before !== undefined) return `${range.from}–${range.before - 1}`;
  if (range?.from !== undefined) return `${range.from}+`;
  if (range?.before !== undefined) return `before ${range.before}`;
  return 'any';
}
