import { counter, gauge, type Family, type Labels } from '../exposition.js';

// Views such as pg_stat_user_tables map column by column onto families with the same labels.
// Writing that mapping as data keeps the SQL column, the metric name and its help in one line.

export interface ColumnMetric<Row> {
  readonly column: keyof Row & string;
  readonly name: string;
  readonly type: 'gauge' | 'counter';
  readonly help: string;
}

/** One family per column; a NULL (never vacuumed, no TOAST table ...) leaves that series out. */
export function familiesFromRows<Row>(specs: readonly ColumnMetric<Row>[], rows: readonly Row[], labelsOf: (row: Row) => Labels): Family[] {
  const labels = rows.map(labelsOf);
  return specs.map((spec) => {
    const samples = [];
    for (let i = 0; i < rows.length; i++) {
      const value = rows[i]![spec.column];
      if (typeof value === 'number') samples.push({ labels: labels[i]!, value });
    }
    return spec.type === 'counter' ? counter(spec.name, spec.help, samples) : gauge(spec.name, spec.help, samples);
  });
}
