import { readFileSync } from 'node:fs';
import { isMap, isSeq, LineCounter, type Node, parseDocument } from 'yaml';

// Query classes: named groups of statements with a latency objective, loaded once at startup
// (YAML, or JSON which is YAML too): by the exporter from PGVIGIL_QUERY_CLASSES_FILE, by an
// application from instrumentPool's classesFile, so both sides put a statement in the same
// class. The first class whose rules all match wins; a statement no class claims is in class
// "other". Problems name the file, line and field, because this file is written by hand.
//
//   classes:
//     - name: login
//       objective_seconds: 0.05
//       target: 0.99            # share of calls that must finish within the objective (default 0.99)
//       match:
//         query: '^SELECT .* FROM users WHERE (username|email) = \$1'   # regex on normalized text
//         tables: [users]                                               # every one must be touched
//         databases: [app]                                              # any of (exact names)
//         users: [web]                                                  # any of (exact names)

export const OTHER_CLASS = 'other';

/** Share of calls within the objective a class promises when its entry names no `target`. */
export const DEFAULT_TARGET = 0.99;

export interface QueryClass {
  readonly name: string;
  readonly objectiveSeconds: number;
  /**
   * Share of calls (0 < target < 1) that must finish within objectiveSeconds: the SLO; 1 - target
   * is the error budget.
   */
  readonly target: number;
  readonly query?: RegExp;
  readonly tables?: readonly string[];
  readonly databases?: readonly string[];
  readonly users?: readonly string[];
}

export interface StatementIdentity {
  /** Redacted, untruncated text. */
  readonly text: string;
  readonly datname: string;
  readonly usename: string;
}

const NAME = /^[a-z][a-z0-9_]*$/;
const CLASS_KEYS = new Set(['name', 'objective_seconds', 'target', 'match', 'description']);
const MATCH_KEYS = new Set(['query', 'tables', 'databases', 'users']);

/** Relations a statement reads or writes, lower-cased without schema: FROM/JOIN/UPDATE/INTO/DELETE FROM lists. */
export function tablesTouched(text: string): Set<string> {
  const tables = new Set<string>();
  const ident = '(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)';
  const qualified = String.raw`${ident}(?:\s*\.\s*${ident})?`;
  // An alias is any identifier except the keywords that may follow a table name.
  const keywordsAfterName =
    'join|inner|left|right|full|cross|natural|on|using|where|group|order|limit|offset|set|values|select|returning|' +
    'union|except|intersect|window|having|for|default';
  const alias = String.raw`(?:\s+(?:as\s+)?(?!(?:${keywordsAfterName})\b)${ident})?`;
  const re = new RegExp(
    String.raw`\b(?:from|join|update|into|table)\s+(?:only\s+)?(${qualified}${alias}(?:\s*,\s*${qualified}${alias})*)`,
    'gi',
  );
  for (const m of text.matchAll(re)) {
    for (const item of m[1]!.split(',')) {
      const name = item.trim().split(/\s+/)[0]!;
      const last = name.split('.').pop()!;
      const bare = last.startsWith('"') ? last.slice(1, -1).replace(/""/g, '"') : last.toLowerCase();
      if (!['select', 'lateral', 'unnest'].includes(bare)) tables.add(bare);
    }
  }
  return tables;
}

export function classify(classes: readonly QueryClass[], s: StatementIdentity): QueryClass | undefined {
  let touched: Set<string> | undefined;
  return classes.find((c) => {
    if (c.databases !== undefined && !c.databases.includes(s.datname)) return false;
    if (c.users !== undefined && !c.users.includes(s.usename)) return false;
    if (c.query !== undefined && !c.query.test(s.text)) return false;
    if (c.tables !== undefined) {
      touched ??= tablesTouched(s.text);
      if (!c.tables.every((t) => touched!.has(t.toLowerCase()))) return false;
    }
    return true;
  });
}

/** Parses a classes document; returns problems ("file:line: field: what") instead of throwing. */
export function parseQueryClasses(source: string, file: string): { classes: QueryClass[]; problems: string[] } {
  const lines = new LineCounter();
  const doc = parseDocument(source, { lineCounter: lines, prettyErrors: false });
  const problems: string[] = [];
  const at = (node: Node | null | undefined, field: string, what: string) => {
    const line = node?.range ? lines.linePos(node.range[0]).line : undefined;
    problems.push(`${file}${line === undefined ? '' : `:${line}`}: ${field}: ${what}`);
  };
  for (const e of doc.errors) {
    problems.push(`${file}:${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`);
  }
  if (problems.length > 0) return { classes: [], problems };
  const root = doc.contents;
  if (!isMap(root)) {
    at(root, 'classes', 'the file must be a mapping with a "classes" list');
    return { classes: [], problems };
  }
  const list = root.get('classes', true) as Node | undefined;
  if (!isSeq(list)) {
    at(list ?? root, 'classes', 'must be a list of classes');
    return { classes: [], problems };
  }
  const classes: QueryClass[] = [];
  const seen = new Set<string>();
  for (const [index, item] of list.items.entries()) {
    const where = `classes[${index}]`;
    if (!isMap(item)) {
      at(item as Node, where, 'must be a mapping with name, objective_seconds and match');
      continue;
    }
    for (const pair of item.items) {
      const key = String((pair.key as { value?: unknown }).value);
      if (!CLASS_KEYS.has(key))
        at(pair.key as Node, `${where}.${key}`, `unknown field (known: ${[...CLASS_KEYS].join(', ')})`);
    }
    const nameNode = item.get('name', true) as Node | undefined;
    const name = item.get('name');
    if (typeof name !== 'string' || !NAME.test(name)) {
      at(nameNode ?? item, `${where}.name`, 'required; lower-case letters, digits and _ (a label value)');
      continue;
    }
    if (name === OTHER_CLASS || seen.has(name)) {
      at(nameNode, `${where}.name`, `"${name}" is reserved or used twice`);
      continue;
    }
    seen.add(name);
    const objective = item.get('objective_seconds');
    if (typeof objective !== 'number' || !(objective > 0) || objective > 3600) {
      at(
        (item.get('objective_seconds', true) as Node | undefined) ?? item,
        `${where}.objective_seconds`,
        'required; a number of seconds > 0 (e.g. 0.05)',
      );
      continue;
    }
    // A target of 1 leaves no error budget (any slow call breaches it) and burn rates divide by
    // 1 - target; below 0.5 an objective says little. So: 0.5 <= target < 1.
    const targetNode = item.get('target', true) as Node | undefined;
    const target = targetNode === undefined ? DEFAULT_TARGET : item.get('target');
    if (typeof target !== 'number' || !(target >= 0.5 && target < 1)) {
      at(targetNode ?? item, `${where}.target`, 'a share of calls within the objective, 0.5 <= target < 1 (e.g. 0.99)');
      continue;
    }
    const match = item.get('match', true) as Node | undefined;
    if (!isMap(match) || match.items.length === 0) {
      at(match ?? item, `${where}.match`, `required; a mapping of ${[...MATCH_KEYS].join(', ')}`);
      continue;
    }
    const cls: { -readonly [K in keyof QueryClass]: QueryClass[K] } = { name, objectiveSeconds: objective, target };
    for (const pair of match.items) {
      const key = String((pair.key as { value?: unknown }).value);
      const field = `${where}.match.${key}`;
      const valueNode = pair.value as Node | null;
      const value = valueNode?.toJSON() as unknown;
      if (key === 'query') {
        if (typeof value !== 'string') {
          at(valueNode, field, 'must be a regular expression string');
          continue;
        }
        try {
          cls.query = new RegExp(value, 'is');
        } catch (err) {
          at(valueNode, field, `not a valid regular expression (${(err as Error).message})`);
        }
      } else if (key === 'tables' || key === 'databases' || key === 'users') {
        if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string' && v !== '')) {
          at(valueNode, field, 'must be a non-empty list of names');
          continue;
        }
        cls[key] = value as string[];
      } else {
        at(pair.key as Node, field, `unknown rule (known: ${[...MATCH_KEYS].join(', ')})`);
      }
    }
    classes.push(cls);
  }
  return { classes, problems };
}

/** Reads a classes file; problems are prefixed with the setting that named it (the exporter's variable by default). */
export function loadQueryClasses(
  file: string,
  setting = 'PGVIGIL_QUERY_CLASSES_FILE',
): { classes: QueryClass[]; problems: string[] } {
  let source: string;
  try {
    source = readFileSync(file, 'utf8');
  } catch (err) {
    return {
      classes: [],
      problems: [`${setting}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`],
    };
  }
  const parsed = parseQueryClasses(source, file);
  return { classes: parsed.classes, problems: parsed.problems.map((p) => `${setting}: ${p}`) };
}
