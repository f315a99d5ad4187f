import { counter, gauge, type Family, type Labels, type ValueSample } from '../exposition.js';

// PgBouncer's SHOW commands gain, rename and drop columns between releases (1.18 split
// cl_cancel_req into cl_active_cancel_req / cl_waiting_cancel_req; 1.23 added
// total_server_assignment_count ...). Exporters that parse rows by position crash on them
// (FIELD-NOTES #13). Here every metric reads its columns by name, tries known aliases in order,
// and a missing column only removes that metric's sample: unknown columns are never looked at.

export type Row = Readonly<Record<string, unknown>>;

/** The first present, numeric one of the given column names in the row being mapped. */
export type ColumnReader = (...aliases: string[]) => number | undefined;

export interface ColumnMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter';
  /** The sample value from the row, or undefined when this PgBouncer version has no such column. */
  readonly value: (col: ColumnReader) => number | undefined;
}

/** The console sends every value as text (int8 and numeric arrive as strings): accept both. */
export function numeric(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

export function text(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

export function readerFor(row: Row): ColumnReader {
  return (...aliases) => {
    for (const alias of aliases) {
      if (alias in row) {
        const n = numeric(row[alias]);
        if (n !== undefined) return n;
      }
    }
    return undefined;
  };
}

/** One column (first present alias), multiplied by scale (1e-6 turns PgBouncer's microseconds into seconds). */
export const column =
  (aliases: string | readonly string[], scale = 1) =>
  (col: ColumnReader): number | undefined => {
    const v = col(...(typeof aliases === 'string' ? [aliases] : aliases));
    return v === undefined ? undefined : v * scale;
  };

/** Maps every row through every metric; a family is returned even when no row had its column. */
export function mapRows(rows: readonly Row[], labelsOf: (row: Row) => Labels, metrics: readonly ColumnMetric[]): Family[] {
  const readers = rows.map((row) => ({ labels: labelsOf(row), col: readerFor(row) }));
  return metrics.map((m) => {
    const samples: ValueSample[] = [];
    for (const { labels, col } of readers) {
      const value = m.value(col);
      if (value !== undefined) samples.push({ labels, value });
    }
    return m.type === 'counter' ? counter(m.name, m.help, samples) : gauge(m.name, m.help, samples);
  });
}
