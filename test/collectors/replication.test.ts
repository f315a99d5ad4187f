import t from 'tap';
import { testMajors } from '../helpers/majors.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { createStandby } from '../helpers/standby.js';
import { writeRowBytes } from '../helpers/write-wal.js';

// A real streaming standby (pg_basebackup -R -C -S on 15; the manual base backup on 17, whose
// binaries ship no pg_basebackup), seen from both sides; then the standby stops and its slot
// holds WAL back.

const REPLICATION = ['replication', 'replication_slots', 'recovery', 'wal_receiver'];

// 15 and 17 by default (one per backup method); PGVIGIL_TEST_MAJORS=13,14,15,16,17,18 runs every major.
const majors = testMajors([15, 17]);
t.jobs = 2;

for (const major of majors) {
  t.test(`streaming standby on PostgreSQL ${major}`, { buffered: true }, async (t) => {
    const primary = await testPostgres(t, { major, needsControl: true });
    const standby = await createStandby(t, primary);
    const onPrimary = await startPgvigil(t, primary.url);
    const onStandby = await startPgvigil(t, standby.url);
    const who = { application_name: 'standby1', slot_name: 'standby1' };

    let m = await onPrimary.poll(...REPLICATION);
    await eventually(
      async () => {
        m = await onPrimary.poll(...REPLICATION);
        return m.find('pg_stat_replication_lag_bytes', { ...who, state: 'streaming', stage: 'replay' }).length === 1;
      },
      20_000,
      'the primary sees the standby streaming',
    );
    t.equal(m.value('pg_replication_is_replica'), 0, 'primary role');
    t.equal(m.value('pg_replication_slot_active', { slot_name: 'standby1', slot_type: 'physical' }), 1, 'slot active');
    t.equal(m.find('pg_stat_replication_lag_seconds', { ...who, stage: 'replay' }).length, 1);
    t.equal(m.find('pg_stat_wal_receiver_up').length, 0, 'no receiver series on a primary');
    t.equal((await onPrimary.pgvigil.app.inject('/primary')).statusCode, 200);
    t.equal((await onPrimary.pgvigil.app.inject('/replica')).statusCode, 503);

    // WAL flows; the standby catches up: every lag stage back to 0 bytes.
    await primary.sql(
      'CREATE TABLE filler AS SELECT g, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 20000) g',
    );
    await eventually(
      async () => {
        m = await onPrimary.poll('replication');
        return m.sum('pg_stat_replication_lag_bytes', { ...who }) === 0;
      },
      20_000,
      'standby caught up (0 lag bytes at every stage)',
    );
    t.pass('lag bytes back to 0 after catch-up');

    let s = await onStandby.poll(...REPLICATION);
    t.equal(s.value('pg_replication_is_replica'), 1, 'standby role');
    await eventually(
      async () => {
        s = await onStandby.poll(...REPLICATION);
        return (
          s.value('pg_stat_wal_receiver_up') === 1 &&
          s.value('pg_replication_replay_lag_bytes') === 0 &&
          s.value('pg_stat_wal_receiver_receive_lag_bytes') === 0
        );
      },
      20_000,
      'standby receiver streaming with nothing left to replay',
    );
    t.equal(s.value('pg_stat_wal_receiver_status', { status: 'streaming' }), 1);
    const replayedAt = s.value('pg_replication_last_replay_timestamp_seconds');
    t.ok(
      replayedAt !== undefined && Math.abs(replayedAt - Date.now() / 1000) < 60,
      `last replay timestamp ${replayedAt} is recent`,
    );
    t.ok((s.value('pg_stat_wal_receiver_last_message_receipt_timestamp_seconds') ?? 0) > Date.now() / 1000 - 60);
    t.equal((await onStandby.pgvigil.app.inject('/replica')).statusCode, 200);
    t.equal((await onStandby.pgvigil.app.inject('/primary')).statusCode, 503);

    // Idle primary: the last replayed transaction ages, lag does not (no false alarm on a quiet primary).
    // An idle primary still writes a little WAL on its own (running-transaction snapshots,
    // checkpoints), which the standby replays moments after receiving it: wait for a poll with
    // nothing in flight rather than assume one.
    await eventually(
      async () => {
        s = await onStandby.poll('recovery');
        const idle = (s.value('pg_replication_last_replay_seconds') ?? 0) > 1.5;
        return idle && s.value('pg_replication_replay_lag_bytes') === 0;
      },
      10_000,
      'no transaction replayed for 1.5 s, nothing left to replay',
    );
    t.equal(s.value('pg_replication_lag_seconds'), 0, 'no false lag on an idle primary');

    // The standby stops: its slot goes inactive and keeps every byte the primary writes.
    await standby.cluster.stop();
    await eventually(
      async () => {
        m = await onPrimary.poll('replication_slots', 'replication');
        return m.value('pg_replication_slot_active', { slot_name: 'standby1' }) === 0;
      },
      20_000,
      'slot inactive',
    );
    t.equal(m.find('pg_stat_replication_lag_bytes', who).length, 0, 'the standby vanished from pg_stat_replication');
    const retainedBefore = m.value('pg_replication_slot_retained_wal_bytes', { slot_name: 'standby1' })!;
    const written = await writeRowBytes(primary, 'more', 4000);
    m = await onPrimary.poll('replication_slots');
    const retainedAfter = m.value('pg_replication_slot_retained_wal_bytes', { slot_name: 'standby1' })!;
    t.ok(
      retainedAfter - retainedBefore >= written,
      `retained WAL grew by ${retainedAfter - retainedBefore} bytes (>= ${written})`,
    );
    t.equal(
      m.value('pg_replication_slot_wal_status', { slot_name: 'standby1', wal_status: 'reserved' }) ??
        m.value('pg_replication_slot_wal_status', { slot_name: 'standby1', wal_status: 'extended' }),
      1,
      'wal_status reported',
    );

    // The primary goes away while the standby runs: the receiver is down, the role stays standby,
    // and replay lag stays 0 bytes (nothing arrives to replay) — which is why alerts need the receiver series.
    await primary.cluster!.stop();
    await standby.cluster.start();
    await eventually(
      async () => {
        s = await onStandby.poll('recovery', 'wal_receiver');
        return s.value('pg_stat_wal_receiver_up') === 0;
      },
      20_000,
      'receiver down on the standby',
    );
    t.equal(s.value('pg_replication_is_replica'), 1, 'still a standby');
    t.equal(s.value('pg_stat_wal_receiver_status', { status: 'streaming' }), undefined, 'not streaming');
  });
}
