import { Type } from '@sinclair/typebox';
import type { RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import type { QueryFn } from './types.js';

// Foreign keys without a supporting index on the referencing side, per database. Every DELETE or
// key UPDATE on the referenced table then scans the referencing table to check (or cascade to)
// the rows that point at it, and joins along the key cannot use an index.
//
// An index supports a foreign key when its leading key columns are exactly the key's columns, in
// any order; it must be valid and not partial (a partial index cannot serve every check).
// Constraints cloned onto partitions (conparentid <> 0) are judged once, on the partitioned
// table where they were declared. Read from the catalogs only: no lock, no privilege beyond login.

const SUPPORTED = `
EXISTS (
  SELECT 1 FROM pg_index i
  WHERE i.indrelid = k.conrelid AND i.indisvalid AND i.indpred IS NULL
    AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] @> k.conkey
    AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(k.conkey)] <@ k.conkey
)`;

const UNINDEXED = `
unindexed AS (
  SELECT k.oid, k.conname, k.conrelid, k.confrelid, k.conkey
  FROM pg_constraint k
  JOIN pg_namespace n ON n.oid = k.connamespace
  WHERE k.contype = 'f' AND k.conparentid = 0
    AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
    AND NOT ${SUPPORTED}
)`;

// $1: the most foreign keys to list, those on the largest referencing tables first.
const LIST_SQL = `
WITH ${UNINDEXED}
SELECT rn.nspname AS schemaname, r.relname, u.conname,
       (SELECT string_agg(a.attname, ',' ORDER BY x.ord)
        FROM unnest(u.conkey) WITH ORDINALITY x(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = u.conrelid AND a.attnum = x.attnum) AS columns,
       fn.nspname || '.' || f.relname AS referenced
FROM unindexed u
JOIN pg_class r ON r.oid = u.conrelid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
JOIN pg_class f ON f.oid = u.confrelid
JOIN pg_namespace fn ON fn.oid = f.relnamespace
ORDER BY r.relpages DESC, rn.nspname, r.relname, u.conname
LIMIT $1`;

const COUNT_SQL = `
WITH ${UNINDEXED}
SELECT count(*)::float8 AS unindexed FROM unindexed`;

interface ForeignKeySettings {
  readonly maxListed: number;
}

const LIST_COLUMNS = {
  schemaname: 'text',
  relname: 'text',
  conname: 'text',
  columns: 'text',
  referenced: 'text',
} as const;

const COUNT = query({
  sql: [{ sql: COUNT_SQL }],
  columns: { unindexed: 'float' },
  datnameLabel: true,
  metrics: [
    {
      name: 'pg_foreign_keys_unindexed',
      type: 'gauge',
      help: 'Foreign keys whose referencing columns lead no valid, non-partial index (all of them, none cut).',
      value: 'unindexed',
    },
  ],
});

const LIST = query({
  sql: [{ sql: LIST_SQL }],
  columns: LIST_COLUMNS,
  datnameLabel: true,
  run: ({ query, settings }: { query: QueryFn; settings: ForeignKeySettings }, sql) =>
    query<RowOf<typeof LIST_COLUMNS>>(sql!, [settings.maxListed]),
  metrics: [
    {
      name: 'pg_foreign_keys_unindexed_info',
      type: 'gauge',
      help:
        'A foreign key without a supporting index on the referencing table (relname, its columns); ' +
        'referenced: the table it points to. Those on the largest tables, up to PGVIGIL_MAX_UNINDEXED_FOREIGN_KEYS.',
      labels: ['schemaname', 'relname', 'conname', 'columns', 'referenced'],
      value: () => 1,
    },
  ],
});

export const foreignKeys = defineCollector<ForeignKeySettings>({
  name: 'foreign_keys',
  description: 'Foreign keys without a supporting index on the referencing side',
  scope: 'database',
  defaultIntervalSeconds: 300,
  settings: {
    variables: {
      PGVIGIL_MAX_UNINDEXED_FOREIGN_KEYS: Type.Integer({
        default: 100,
        minimum: 1,
        maximum: 100000,
        description:
          'Per database: unindexed foreign keys listed in pg_foreign_keys_unindexed_info (largest tables first)',
      }),
    },
    resolve: (values) => ({ maxListed: (values.PGVIGIL_MAX_UNINDEXED_FOREIGN_KEYS as number | undefined) ?? 100 }),
  },
  queries: [COUNT, LIST],
});
