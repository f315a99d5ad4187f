/**
 * The PostgreSQL majors a test file runs on: its defaults (a few, to stay fast), or every major
 * listed in PGVIGIL_TEST_MAJORS (e.g. 13,14,15,16,17,18) for a full run.
 */
export function testMajors(defaults: readonly number[]): number[] {
  const listed = process.env.PGVIGIL_TEST_MAJORS;
  if (listed === undefined || listed.trim() === '') return [...defaults];
  return listed
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}
