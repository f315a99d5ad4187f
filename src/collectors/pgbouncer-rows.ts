import type { Columns, RowOf } from './collector-spec.js';

// PgBouncer's SHOW commands gain, rename and drop columns between releases (1.18 split
// cl_cancel_req into cl_active_cancel_req / cl_waiting_cancel_req; 1.23 added
// total_server_assignment_count ...). Exporters that read rows by position crash or mislabel
// when that happens. Here a console row is read into the declared row shape by column name,
// trying known aliases in order: a missing column is NULL (no sample for that metric only), and
// unknown columns are never looked at.

export type ConsoleRow = Readonly<Record<string, unknown>>;

/** The console sends every value as text (int8 and numeric arrive as strings): accept both. */
export function numeric(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export function text(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

/**
 * A console row in the declared shape: each column from the first of its source names (default:
 * its own name) present with a usable value; text columns '' and number columns NULL otherwise.
 */
export function consoleRow<C extends Columns>(
  row: ConsoleRow,
  columns: C,
  sources: { readonly [K in keyof C]?: readonly string[] } = {},
): RowOf<C> {
  const out: Record<string, unknown> = {};
  for (const [column, kind] of Object.entries(columns)) {
    const names = sources[column] ?? [column];
    if (kind === 'text') {
      out[column] = text(row[names.find((n) => n in row) ?? column]);
      continue;
    }
    let value: number | null = null;
    for (const name of names) {
      if (!(name in row)) continue;
      value = numeric(row[name]);
      if (value !== null) break;
    }
    out[column] = value;
  }
  return out as RowOf<C>;
}
