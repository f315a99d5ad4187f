import { configSchema } from './pgvigil-config.js';

interface PropertySchema {
  description?: string;
  default?: unknown;
  anyOf?: { const?: unknown }[];
  minimum?: number;
  maximum?: number;
}

/** The README's configuration table, generated from the one schema so the two never disagree. */
export function configTable(): string {
  const properties = (configSchema as unknown as { properties: Record<string, PropertySchema> }).properties;
  const rows = Object.entries(properties).map(([name, p]) => {
    const allowed = p.anyOf?.map((a) => String(a.const)).join(', ');
    const range = p.minimum !== undefined && p.maximum !== undefined ? ` (${p.minimum}–${p.maximum})` : '';
    const def = p.default === undefined ? '' : `\`${String(p.default) === '' ? '""' : String(p.default)}\``;
    const meaning = `${p.description ?? ''}${allowed !== undefined ? `: ${allowed}` : range}`;
    return `| \`${name}\` | ${def} | ${meaning.replace(/\|/g, '\\|')} |`;
  });
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

if (process.argv[1]?.endsWith('config-table.js')) process.stdout.write(`${configTable()}\n`);
