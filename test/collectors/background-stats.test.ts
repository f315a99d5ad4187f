import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { steadyRead } from '../helpers/steady-read.js';

// Checkpointer, bgwriter, pg_stat_wal, pg_stat_io and archiver: the same names on a major before
// the 17/18 catalog moves (15) and after both (18), checked against the views the SQL reads.

const COLLECTORS = ['checkpointer', 'bgwriter', 'stat_wal', 'stat_io', 'archiver'];

for (const major of testMajors([15, 18])) {
  t.test(`background writer, checkpoints, WAL and archiving on PostgreSQL ${major}`, async (t) => {
    const pg = await testPostgres(t, {
      major,
      settings: {
        archive_mode: 'on',
        archive_command: "'true'",
        ...(major >= 14 ? { track_wal_io_timing: 'on' } : {}),
      },
    });
    const exporter = await startPgvigil(t, pg.url);
    let m = await exporter.poll(...COLLECTORS);
    for (const c of COLLECTORS) {
      const notApplicable = (c === 'stat_io' && major < 16) || (c === 'stat_wal' && major < 14);
      t.equal(
        m.value(notApplicable ? 'pgvigil_collector_enabled' : 'pgvigil_collector_success', { collector: c }),
        notApplicable ? 0 : 1,
        `${c} ${notApplicable ? 'not applicable' : 'ok'}`,
      );
    }
    const requested = m.value('pg_checkpointer_checkpoints_total', { kind: 'requested' })!;
    const written = m.value('pg_checkpointer_buffers_written_total')!;
    const archived = m.value('pg_stat_archiver_archived_total')!;
    const records = m.value('pg_stat_wal_records_total') ?? 0;
    t.equal(m.value('pg_stat_archiver_enabled'), 1);

    await pg.sql(`CREATE TABLE t AS SELECT g FROM generate_series(1, 50000) g`);
    await pg.sql('SELECT pg_switch_wal()');
    await pg.sql('CHECKPOINT');
    // WAL records, bytes and writes reach the views when the writing backend flushes its pending
    // statistics, which may be a separate flush for pg_stat_io (the source of writes from 18):
    // wait for each, not for one and assume the others.
    const walCounted = () =>
      major < 14 ||
      (m.value('pg_stat_wal_records_total')! > records + 1000 &&
        m.value('pg_stat_wal_bytes_total')! > 1_000_000 &&
        m.value('pg_stat_wal_write_total')! > 0);
    await eventually(
      async () => {
        m = await exporter.poll(...COLLECTORS);
        return (
          m.value('pg_checkpointer_checkpoints_total', { kind: 'requested' })! >= requested + 1 &&
          m.value('pg_stat_archiver_archived_total')! >= archived + 1 &&
          walCounted()
        );
      },
      20_000,
      'a requested checkpoint, an archived segment, WAL records, bytes and writes counted',
    );
    t.ok(m.value('pg_checkpointer_buffers_written_total')! > written, 'the checkpoint wrote buffers');
    t.ok(m.value('pg_stat_archiver_last_archived_timestamp_seconds')! > Date.now() / 1000 - 60, 'archived just now');
    if (major >= 14) {
      t.pass(`WAL records, bytes and writes (writes from ${major >= 18 ? 'pg_stat_io' : 'pg_stat_wal'}) counted`);
      t.ok((m.value('pg_stat_wal_write_time_seconds_total') ?? -1) >= 0);
    } else {
      t.equal(m.find('pg_stat_wal_records_total').length, 0, 'no pg_stat_wal before 14');
    }
    // The background writer reports buffers_alloc on its own schedule: right after start a fast
    // machine still reads 0 in the view. So the exporter's value is held against the view read
    // just before and just after one poll, which it must lie between, whatever the timing.
    const bgwriterView = async () =>
      (await pg.sql<{ alloc: number }>('SELECT buffers_alloc::float8 AS alloc FROM pg_stat_bgwriter'))[0]!.alloc;
    const allocBefore = await bgwriterView();
    const bracketed = await exporter.poll('bgwriter');
    const allocAfter = await bgwriterView();
    const alloc = bracketed.value('pg_bgwriter_buffers_alloc_total')!;
    t.ok(
      alloc >= allocBefore && alloc <= allocAfter,
      `buffers_alloc ${alloc} within the view's ${allocBefore}..${allocAfter}`,
    );
    t.ok(m.value('pg_bgwriter_buffers_backend_total')! >= 0);

    // The checkpointer reports its counters and its pg_stat_io rows in separate steps after a
    // checkpoint: compare each with its view at a moment the view held still around the poll.
    const checkpointer = await steadyRead(
      async () =>
        (
          await pg.sql<{ requested: number; written: number }>(
            major >= 17
              ? 'SELECT num_requested::float8 AS requested, buffers_written::float8 AS written ' +
                  'FROM pg_stat_checkpointer'
              : 'SELECT checkpoints_req::float8 AS requested, buffers_checkpoint::float8 AS written ' +
                  'FROM pg_stat_bgwriter',
          )
        )[0]!,
      () => exporter.poll('checkpointer'),
      'pg_stat_checkpointer to hold still',
    );
    const truth = checkpointer.view;
    m = checkpointer.polled;
    const requestedNow = m.value('pg_checkpointer_checkpoints_total', { kind: 'requested' });
    t.equal(requestedNow, truth.requested, 'requested checkpoints as the view says');
    t.equal(m.value('pg_checkpointer_buffers_written_total'), truth.written, 'buffers written as the view says');
    if (major >= 16) {
      const io = await steadyRead(
        async () =>
          (
            await pg.sql<{ writes: number }>(
              `SELECT writes::float8 AS writes FROM pg_stat_io
           WHERE backend_type = 'checkpointer' AND object = 'relation' AND context = 'normal'`,
            )
          )[0]!,
        () => exporter.poll('stat_io'),
        'pg_stat_io to hold still',
      );
      m = io.polled;
      const labels = { backend_type: 'checkpointer', object: 'relation', context: 'normal' };
      t.equal(m.value('pg_stat_io_writes_total', labels), io.view.writes, 'pg_stat_io checkpointer writes');
      t.equal(m.value('pg_stat_io_write_bytes_total', labels), io.view.writes * 8192, 'bytes = writes × 8 KiB');
      t.equal(m.find('pg_stat_io_reads_total', { object: 'wal' }).length > 0, major >= 18, 'WAL rows from 18');
    } else {
      t.equal(m.value('pgvigil_collector_enabled', { collector: 'stat_io' }), 0, 'pg_stat_io not applicable before 16');
    }
  });
}
