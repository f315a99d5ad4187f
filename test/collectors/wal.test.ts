import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { writeRowBytes } from '../helpers/write-wal.js';

// WAL written and WAL on disk, against what the test wrote and what pg_ls_waldir() says; then
// the estimate a role without pg_ls_waldir gets instead of a permission error.

for (const major of testMajors([15])) {
  t.test(`WAL counter grows by at least the bytes written; size from pg_ls_waldir (${major})`, async (t) => {
    const pg = await testPostgres(t, { major });
    const exporter = await startPgvigil(t, pg.url);
    let m = await exporter.poll('wal');
    t.equal(m.types.get('pg_wal_written_bytes_total'), 'counter');
    const before = m.value('pg_wal_written_bytes_total')!;
    const payload = await writeRowBytes(pg, 'w', 8000);
    m = await exporter.poll('wal');
    const grown = m.value('pg_wal_written_bytes_total')! - before;
    t.ok(grown >= payload, `WAL grew by ${grown} bytes for ${payload} bytes of rows`);

    const [truth] = await pg.sql<{ size: number; files: number; lsn: number }>(
      `SELECT sum(size)::float8 AS size, count(*) FILTER (WHERE name ~ '^[0-9A-F]{24}$')::float8 AS files,
              pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8 AS lsn FROM pg_ls_waldir()`,
    );
    t.equal(m.value('pg_wal_size_estimated'), 0, 'superuser may run pg_ls_waldir');
    t.equal(m.value('pg_wal_size_bytes'), truth!.size);
    t.equal(m.value('pg_wal_segments'), truth!.files);
    t.equal(m.value('pg_wal_segment_size_bytes'), 16 * 1024 * 1024);
    const counted = m.value('pg_wal_written_bytes_total')!;
    t.ok(
      counted <= truth!.lsn && truth!.lsn - counted < 64 * 1024,
      `counter ${counted} is the LSN in bytes (${truth!.lsn})`,
    );
  });

  t.test(`with pg_ls_waldir revoked the size is estimated, not an error (${major})`, async (t) => {
    const pg = await testPostgres(t, { major });
    // As on managed services: pg_monitor, but pg_ls_waldir() revoked.
    await pg.sql(`CREATE ROLE bare LOGIN PASSWORD 'bare' IN ROLE pg_monitor`);
    await pg.sql('REVOKE EXECUTE ON FUNCTION pg_ls_waldir() FROM pg_monitor');
    await pg.sql(`CREATE TABLE w AS SELECT g, repeat('x', 1000) AS pad FROM generate_series(1, 20000) g`);
    await pg.sql('CHECKPOINT');
    const exporter = await startPgvigil(t, pg.urlFor('postgres', 'bare', 'bare'));
    const m = await exporter.poll('wal');
    t.equal(m.value('pgvigil_collector_success', { collector: 'wal' }), 1);
    t.equal(m.value('pg_wal_size_estimated'), 1, 'estimated');
    const [truth] = await pg.sql<{ size: number }>(`SELECT sum(size)::float8 AS size FROM pg_ls_waldir()`);
    const estimate = m.value('pg_wal_size_bytes')!;
    t.ok(
      estimate >= 16 * 1024 * 1024 && estimate <= truth!.size,
      `estimate ${estimate} is a lower bound of ${truth!.size}`,
    );
    t.ok(m.value('pg_wal_written_bytes_total')! > 0);
    t.notMatch(exporter.logs(), /permission denied/, 'no permission error logged');
  });
}
