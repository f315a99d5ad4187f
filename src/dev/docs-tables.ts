// The generated references in docs/: pure functions from plain data to Markdown. They take a list
// of families (as the golden file records them) and a JSON schema's properties, never a collector
// or the config module, so the way collectors and settings are defined can change without them.

/** One exported family, as test/golden/ records it. */
export interface FamilyDoc {
  readonly name: string;
  readonly type: string;
  readonly help: string;
  readonly labels: readonly string[];
  readonly collector: string;
  /** primary, standby (standby only) or client pool (pgvigil/pool, in the application's registry). */
  readonly where?: string;
}

/** One variable of the configuration schema (a JSON schema property, as TypeBox builds it). */
export interface SettingDoc {
  readonly description?: string;
  readonly default?: unknown;
  readonly anyOf?: readonly { readonly const?: unknown }[];
  readonly minimum?: number;
  readonly maximum?: number;
}

/** The configuration schema: an object schema whose property names are the variables. */
export interface SettingsSchema {
  readonly properties: Readonly<Record<string, SettingDoc>>;
}

const cell = (text: string) => text.replace(/\\n/g, ' ').replace(/\n/g, ' ').replace(/\|/g, '\\|');
const code = (text: string) => `\`${text}\``;

/** Alphabetical, pgvigil's own families last: a reader looking for a view finds its collector by name. */
function collectorOrder(a: string, b: string): number {
  const own = (c: string) => (c === 'self' || c === 'pgvigil/pool' ? 1 : 0);
  return own(a) - own(b) || a.localeCompare(b);
}

function collectorHeading(collector: string): string {
  if (collector === 'self') return 'pgvigil itself (`self`)';
  if (collector === 'pgvigil/pool') return 'Application pools (`pgvigil/pool`, in your application)';
  return code(collector);
}

const anchor = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');

/** The metric reference: an index of collectors, then one table per collector. */
export function metricsReference(families: readonly FamilyDoc[]): string {
  const byCollector = new Map<string, FamilyDoc[]>();
  for (const f of families) byCollector.set(f.collector, [...(byCollector.get(f.collector) ?? []), f]);
  const collectors = [...byCollector.keys()].sort(collectorOrder);
  const index = collectors.map((c) => {
    const heading = collectorHeading(c);
    const count = byCollector.get(c)!.length;
    return `- [${heading}](#${anchor(heading)}): ${count} ${count === 1 ? 'family' : 'families'}`;
  });
  const sections = collectors.map((c) => {
    const rows = byCollector
      .get(c)!
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((f) => {
        const where = f.where === 'standby' ? ' (standby only)' : '';
        return `| ${code(f.name)} | ${f.type} | ${f.labels.map(code).join(', ')} | ${cell(f.help)}${where} |`;
      });
    const header = ['| Metric | Type | Labels | Meaning |', '| --- | --- | --- | --- |'];
    return [`### ${collectorHeading(c)}`, '', ...header, ...rows].join('\n');
  });
  return [`${families.length} families.`, '', ...index, '', sections.join('\n\n')].join('\n');
}

/** The configuration reference: one row per variable, in the schema's order. */
export function configurationTable(schema: SettingsSchema): string {
  const rows = Object.entries(schema.properties).map(([name, p]) => {
    const allowed = p.anyOf?.map((a) => String(a.const)).join(', ');
    const range = p.minimum !== undefined && p.maximum !== undefined ? ` (${p.minimum}–${p.maximum})` : '';
    const def = p.default === undefined ? '' : code(String(p.default) === '' ? '""' : String(p.default));
    const meaning = `${p.description ?? ''}${allowed !== undefined ? `: ${allowed}` : range}`;
    return `| ${code(name)} | ${def} | ${cell(meaning)} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

/** Replaces what lies between `<!-- name:start -->` and `<!-- name:end -->` in text. */
export function replaceSection(text: string, name: string, body: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`no ${start} ... ${end} section`);
  return `${text.slice(0, i + start.length)}\n${body}\n${text.slice(j)}`;
}
