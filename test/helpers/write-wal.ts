import type { TestPostgres } from './postgres.js';

/**
 * Creates `table` and inserts `rows` rows of 992 bytes one by one (short of TOAST compression),
 * so the WAL they produce is at least the bytes returned. CREATE TABLE AS is not used: its bulk
 * path logs less than the row bytes on some majors.
 */
export async function writeRowBytes(pg: Pick<TestPostgres, 'sql'>, table: string, rows: number): Promise<number> {
  await pg.sql(`CREATE TABLE ${table} (g int, pad text)`);
  const [result] = await pg.sql<{ bytes: number }>(
    `WITH ins AS (INSERT INTO ${table} SELECT g, repeat(md5(g::text), 31) FROM generate_series(1, $1::int) g
                 RETURNING pad)
     SELECT sum(octet_length(pad))::float8 AS bytes FROM ins`,
    [rows],
  );
  return result!.bytes;
}
