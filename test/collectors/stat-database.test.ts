import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { ParsedMetrics } from '../helpers/metrics.js';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

// Ground truth made by the test on a database nobody else uses (autovacuum off, pgvigil itself
// connected to `postgres`): exactly N commits and M rollbacks, one deadlock, temp files whose
// sizes the server logs (log_temp_files = 0), a known number of sessions and one killed.
// Every workload client disconnects at the end: a backend flushes its pending statistics on exit
// on every major (13 and 14 otherwise hold them until their next transaction).

const N = 7;
const M = 4;

t.test('pg_stat_database against ground truth', async (t) => {
  const pg = await testPostgres(t, {
    settings: {
      autovacuum: 'off',
      log_temp_files: 0,
      logging_collector: 'on',
      log_directory: "'log'",
      log_filename: "'pg.log'",
      deadlock_timeout: "'100ms'",
    },
  });
  await pg.sql('CREATE DATABASE ledger');
  // A client's end() returns before its backend has flushed its counters and left: a session of
  // ledger still leaving would add its commits after the baseline below, by the machine's timing.
  // A backend flushes before it leaves pg_stat_activity, so waiting for ledger to be empty of
  // other backends waits for every flush.
  const ledgerEmpty = (what: string) =>
    eventually(
      async () =>
        (await pg.sql(`SELECT 1 FROM pg_stat_activity WHERE datname = 'ledger' AND pid <> pg_backend_pid()`)).length ===
        0,
      10_000,
      what,
    );
  await pg.sql('CREATE TABLE entry (id int PRIMARY KEY, n int); INSERT INTO entry VALUES (1, 0), (2, 0)', [], 'ledger');
  await ledgerEmpty('the session that created entry gone');
  const before = Date.now() / 1000;
  await pg.sql('SELECT pg_stat_reset()', [], 'ledger');
  await ledgerEmpty('the session that reset ledger gone');
  const exporter = await startPgvigil(t, pg.url);
  const stable = await eventually(
    async () => {
      const m = await exporter.poll('stat_database');
      return (m.value('pg_stat_database_stats_reset_timestamp_seconds', { datname: 'ledger' }) ?? 0) > 0;
    },
    10_000,
    'the reset of ledger is visible',
  ).then(() => exporter.poll('stat_database'));
  const reset = stable.value('pg_stat_database_stats_reset_timestamp_seconds', { datname: 'ledger' })!;
  t.ok(reset >= before - 1 && reset <= Date.now() / 1000 + 1, 'stats_reset is when the test reset the counters');
  t.equal(stable.find('pg_stat_database_xact_commit_total', { datname: '' }).length, 0, 'shared-objects row skipped');
  t.ok(
    stable.value('pg_stat_database_xact_commit_total', { datname: 'template0' }) !== undefined,
    'every database has a row',
  );

  const counterOf = (m: ParsedMetrics, name: string) => m.value(name, { datname: 'ledger' }) ?? 0;
  const delta = async (name: string) => counterOf(await exporter.poll('stat_database'), name) - counterOf(stable, name);
  let sessions = 0;

  // N commits and M rollbacks, one inserted row each.
  const writer = await pg.client('ledger');
  sessions++;
  for (let i = 0; i < M; i++) await writer.query(`BEGIN; INSERT INTO entry VALUES (${100 + i}, 0); ROLLBACK`);
  for (let i = 0; i < N; i++) await writer.query(`BEGIN; INSERT INTO entry VALUES (${10 + i}, 0); COMMIT`);
  await writer.end();
  await ledgerEmpty('the writer gone, so ledger has exactly the two backends below');

  // A deadlock: each session holds one row and asks for the other's.
  const a = await pg.client('ledger');
  const b = await pg.client('ledger');
  sessions += 2;
  const during = await exporter.poll('stat_database');
  t.equal(during.value('pg_stat_database_numbackends', { datname: 'ledger' }), 2, 'two backends connected to ledger');
  await a.query('BEGIN; UPDATE entry SET n = n + 1 WHERE id = 1');
  await b.query('BEGIN; UPDATE entry SET n = n + 1 WHERE id = 2');
  const outcomes = await Promise.allSettled([
    a.query('UPDATE entry SET n = n + 1 WHERE id = 2'),
    b.query('UPDATE entry SET n = n + 1 WHERE id = 1'),
  ]);
  const victims = outcomes.filter((o) => o.status === 'rejected');
  t.equal(victims.length, 1, 'one deadlock victim');
  t.match(String((victims[0] as PromiseRejectedResult).reason), /deadlock detected/);
  await a.query(outcomes[0]!.status === 'rejected' ? 'ROLLBACK' : 'COMMIT');
  await b.query(outcomes[1]!.status === 'rejected' ? 'ROLLBACK' : 'COMMIT');
  await a.end();
  await b.end();

  // Temp files from a sort far beyond work_mem; the server logs each file's size when it deletes it.
  const logFile = join(pg.cluster!.dataDir, 'log', 'pg.log');
  const tempLines = () =>
    [...readFileSync(logFile, 'utf8').matchAll(/temporary file: path ".*?", size (\d+)/g)].map((x) => Number(x[1]));
  const tempBefore = tempLines().length;
  const sorter = await pg.client('ledger');
  sessions++;
  await sorter.query(`SET work_mem = '64kB'`);
  await sorter.query(
    `SELECT count(*) FROM (SELECT row_number() OVER (ORDER BY g DESC) FROM generate_series(1, 200000) g) s`,
  );
  await sorter.end();

  // A session ended by an operator.
  const doomed = await pg.client('ledger', { application_name: 'doomed' });
  sessions++;
  await pg.sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'doomed'`);
  await eventually(
    async () => (await pg.sql(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'doomed'`)).length === 0,
    10_000,
    'doomed session gone',
  );
  await doomed.end().catch(() => undefined);
  await ledgerEmpty('every workload session gone, its statistics flushed');

  await eventually(
    async () => {
      const m = await exporter.poll('stat_database');
      const grown = (name: string, want: number) => counterOf(m, name) - counterOf(stable, name) >= want;
      return (
        grown('pg_stat_database_xact_commit_total', N) &&
        grown('pg_stat_database_xact_rollback_total', M + 1) &&
        grown('pg_stat_database_deadlocks_total', 1) &&
        grown('pg_stat_database_temp_files_total', 1)
      );
    },
    20_000,
    'counters of ledger grow',
  );
  const temps = await (async () => {
    let sizes: number[] = [];
    await eventually(
      () => {
        sizes = tempLines().slice(tempBefore);
        return sizes.length > 0;
      },
      10_000,
      'temp files in the server log',
    );
    return sizes;
  })();

  // Autocommit statements (SET, SELECT) are transactions too: the sorter made 2 commits, the
  // deadlock survivor 1, the victim 1 rollback; and every session's start-up commits one.
  const commits = await delta('pg_stat_database_xact_commit_total');
  t.equal(
    commits,
    N + 1 + 2 + sessions,
    `${N} commits + deadlock survivor + sorter's 2 statements + ${sessions} session start-ups (got ${commits})`,
  );
  t.equal(await delta('pg_stat_database_xact_rollback_total'), M + 1, `${M} rollbacks + deadlock victim`);
  t.equal(await delta('pg_stat_database_tup_inserted_total'), N + M, 'rows inserted, committed or not');
  t.equal(await delta('pg_stat_database_deadlocks_total'), 1, 'one deadlock');
  t.equal(await delta('pg_stat_database_temp_files_total'), temps.length, `${temps.length} temp files, as logged`);
  t.equal(
    await delta('pg_stat_database_temp_bytes_total'),
    temps.reduce((x, y) => x + y, 0),
    'temp bytes, as logged',
  );
  t.ok((await delta('pg_stat_database_blks_hit_total')) > 0, 'buffer hits counted');

  const m = await exporter.poll('stat_database');
  if (pg.major >= 14) {
    t.equal(await delta('pg_stat_database_sessions_total'), sessions, `${sessions} sessions`);
    t.equal(await delta('pg_stat_database_sessions_killed_total'), 1, 'one session killed');
    t.ok((await delta('pg_stat_database_session_time_seconds_total')) > 0, 'session time in seconds');
    t.ok(
      (await delta('pg_stat_database_session_time_seconds_total')) < 600,
      'session time is seconds, not milliseconds',
    );
  } else {
    t.equal(m.types.get('pg_stat_database_sessions_total'), undefined, 'no session families before 14');
  }
  t.equal(m.types.get('pg_stat_database_xact_commit_total'), 'counter');
  t.equal(m.types.get('pg_stat_database_numbackends'), 'gauge');
  t.ok(
    m.value('pg_stat_database_blk_read_time_seconds_total', { datname: 'ledger' }) !== undefined,
    'I/O time exported',
  );
  t.equal(
    m.find('pg_stat_database_checksum_failures_total', { datname: 'ledger' }).length,
    pg.major >= 18 ? 1 : 0,
    'checksum failures only where checksums are on (initdb default from 18)',
  );

  // Wraparound inputs, read back right after the poll (nothing writes in between).
  const [ages] = await pg.sql<{ xid: number; mxid: number; freeze: number; mfreeze: number }>(
    `SELECT age(datfrozenxid)::float8 AS xid, mxid_age(datminmxid)::float8 AS mxid,
            current_setting('autovacuum_freeze_max_age')::float8 AS freeze,
            current_setting('autovacuum_multixact_freeze_max_age')::float8 AS mfreeze
     FROM pg_database WHERE datname = 'ledger'`,
  );
  t.equal(m.value('pg_database_xid_age', { datname: 'ledger' }), ages!.xid, `xid age ${ages!.xid}`);
  t.ok(ages!.xid > N, 'the committed inserts consumed xids');
  t.equal(m.value('pg_database_mxid_age', { datname: 'ledger' }), ages!.mxid);
  t.equal(m.value('pg_database_autovacuum_freeze_max_age'), ages!.freeze);
  t.equal(m.value('pg_database_autovacuum_multixact_freeze_max_age'), ages!.mfreeze);

  // Recovery conflicts exist only on standbys: every type present, all 0 on this primary.
  const conflictTypes = m.find('pg_stat_database_conflicts_by_type_total', { datname: 'ledger' });
  t.same(
    conflictTypes.map((s) => s.labels.type).sort(),
    [
      'bufferpin',
      'deadlock',
      'lock',
      'snapshot',
      'tablespace',
      ...(pg.major >= 16 ? ['active_logicalslot'] : []),
    ].sort(),
  );
  t.ok(conflictTypes.every((s) => s.value === 0));

  // Include/exclude patterns of discovery apply here too.
  const narrow = await startPgvigil(t, pg.url, { PGVIGIL_EXCLUDE_DATABASES: '^template' });
  const n = await narrow.poll('stat_database');
  t.equal(n.find('pg_stat_database_xact_commit_total', { datname: 'template0' }).length, 0, 'template0 excluded');
  t.equal(n.find('pg_database_xid_age', { datname: 'template1' }).length, 0, 'template1 excluded');
  t.ok(n.value('pg_database_xid_age', { datname: 'ledger' }) !== undefined, 'ledger kept');
});
