import t from 'tap';
import { EXPORTED_SETTINGS, SETTING_METRICS, settings } from '../../src/collectors/settings.js';
import { startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';
import { collectDirectly, sampleValue } from './collect-directly.js';

// Ground truth two ways: values the test wrote into postgresql.conf, and SHOW output (a different
// format from pg_settings' setting + unit: "128MB", "1min", "on") converted here independently.

const SHOW_UNITS: Record<string, number> = {
  B: 1,
  kB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
  us: 1e-6,
  ms: 1e-3,
  s: 1,
  min: 60,
  h: 3600,
  d: 86400,
};

function fromShow(text: string): number {
  if (text === 'on') return 1;
  if (text === 'off') return 0;
  const m = /^(-?[0-9.]+)\s*([a-zA-Z]*)$/.exec(text);
  if (m === null) throw new Error(`cannot read SHOW output ${JSON.stringify(text)}`);
  const n = Number(m[1]);
  if (m[2] === '' || n < 0) return n;
  const f = SHOW_UNITS[m[2]!];
  if (f === undefined) throw new Error(`unit ${m[2]} in ${text}`);
  return n * f;
}

// pgvigil's connection sends its own values of these in the startup packet: the server's are
// then invisible to it, and the collector leaves them out rather than report its own.
const OVERRIDDEN_BY_PGVIGIL = new Set(['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout']);
// Its connection also starts read-only and without JIT (options in the startup packet).
const SET_BY_PGVIGIL = new Set(['default_transaction_read_only', 'jit']);

t.test('settings in base units, equal to SHOW', async (t) => {
  const pg = await testPostgres(t, {
    settings: {
      work_mem: "'8MB'",
      shared_buffers: "'16MB'",
      statement_timeout: "'1min'",
      lock_timeout: "'1500ms'",
      checkpoint_timeout: "'2min'",
      autovacuum: 'off',
      autovacuum_vacuum_scale_factor: 0.05,
      max_wal_size: "'2GB'",
      wal_keep_size: "'64MB'",
      'pg_stat_statements.max': 1000,
    },
  });
  const exporter = await startPgvigil(t, pg.url);
  const m = await exporter.poll('settings');

  // What the test wrote.
  t.equal(m.value('pg_settings_work_mem_bytes'), 8 * 1024 * 1024);
  t.equal(m.value('pg_settings_shared_buffers_bytes'), 16 * 1024 * 1024, '8kB blocks → bytes');
  t.equal(m.value('pg_settings_checkpoint_timeout_seconds'), 120);
  t.equal(m.value('pg_settings_autovacuum'), 0);
  t.equal(m.value('pg_settings_autovacuum_vacuum_scale_factor'), 0.05);
  t.equal(m.value('pg_settings_max_wal_size_bytes'), 2 * 1024 ** 3);
  t.equal(m.value('pg_settings_wal_keep_size_bytes'), 64 * 1024 ** 2);
  t.equal(m.value('pg_settings_max_slot_wal_keep_size_bytes'), -1, '-1 (unlimited) is not scaled');
  t.equal(m.value('pg_settings_pg_stat_statements_max'), 1000);
  t.equal(m.value('pg_settings_max_connections'), 100);
  t.equal(m.value('pg_settings_track_io_timing'), 1);

  // Every exported setting the server has, against SHOW.
  let compared = 0;
  let overridden = 0;
  // Only settings this server has as a number or boolean (wal_compression is an enum from 15 on).
  const shown = await pg.sql<{ name: string; v: string | null }>(
    `SELECT u.name, CASE WHEN s.vartype IN ('bool', 'integer', 'real') THEN current_setting(u.name, true) END AS v
     FROM unnest($1::text[]) AS u(name) LEFT JOIN pg_settings s ON s.name = u.name`,
    [EXPORTED_SETTINGS.map(([name]) => name)],
  );
  const show = new Map(shown.map((r) => [r.name, r.v]));
  for (const { value, name: metric } of SETTING_METRICS) {
    const name = String(value);
    const v = show.get(name) ?? null;
    if (v === null) {
      t.equal(m.find(metric).length, 0, `${name} absent on this server, absent from /metrics`);
      continue;
    }
    if (m.find(metric).length === 0 && (OVERRIDDEN_BY_PGVIGIL.has(name) || SET_BY_PGVIGIL.has(name))) {
      t.match(
        exporter.logs(),
        new RegExp(`"setting":"${name}".*overridden by the exporter connection`),
        `${name}: absence explained in the log`,
      );
      overridden++;
      continue;
    }
    t.equal(m.value(metric), fromShow(v), `${metric} = SHOW ${name} (${v})`);
    t.equal(m.types.get(metric), 'gauge');
    compared++;
  }
  t.ok(
    compared + overridden >= show.size - [...show.values()].filter((v) => v === null).length,
    `${compared} settings compared with SHOW, ${overridden} hidden by pgvigil's session`,
  );
  if (pg.major < 16) t.equal(m.find('pg_settings_reserved_connections').length, 0, 'reserved_connections only from 16');

  const [server] = await pg.sql<{ version: string; num: string; started: number }>(
    `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
            extract(epoch FROM pg_postmaster_start_time())::float8 AS started`,
  );
  const info = m.find('pg_server_info');
  t.equal(info.length, 1);
  t.equal(info[0]?.value, 1);
  t.equal(info[0]?.labels.server_version_num, server!.num);
  t.equal(info[0]?.labels.version, server!.version.split(' ')[0], 'short version');
  t.match(info[0]?.labels.version, new RegExp(`^${pg.major}\\.\\d+`));
  t.ok(Math.abs(m.value('pg_postmaster_start_time_seconds')! - server!.started) < 0.001, 'postmaster start time');
  t.ok(Math.abs(Date.now() / 1000 - m.value('pg_postmaster_start_time_seconds')!) < 300, 'started minutes ago at most');

  // A value SET in a session is reported as the server has it (reset_val), not as overridden.
  const client = await pg.client();
  await client.query(`SET work_mem = '1MB'`);
  await client.query(`SET statement_timeout = '2s'`);
  const { families } = await collectDirectly(client, settings);
  t.equal(sampleValue(families, 'pg_settings_work_mem_bytes'), 8 * 1024 * 1024, 'not the session override of 1MB');
  t.equal(sampleValue(families, 'pg_settings_statement_timeout_seconds'), 60, 'not the session override of 2 s');
});

t.test('PGVIGIL_SETTINGS_INCLUDE/EXCLUDE keep the count down; the settings alerts use stay', async (t) => {
  const pg = await testPostgres(t);
  const all = await (await startPgvigil(t, pg.url)).poll('settings');
  const few = await (
    await startPgvigil(t, pg.url, {
      PGVIGIL_SETTINGS_INCLUDE: 'random_page_cost, autovacuum_vacuum_cost_*',
      PGVIGIL_SETTINGS_EXCLUDE: '*_limit',
    })
  ).poll('settings');
  const settingFamilies = (m: typeof all) => [...m.types.keys()].filter((n) => n.startsWith('pg_settings_'));
  t.equal(all.value('pg_settings_random_page_cost'), 4, 'default: every numeric setting');
  t.equal(all.value('pg_settings_seq_page_cost'), 1);
  t.equal(few.value('pg_settings_random_page_cost'), 4, 'included by name');
  t.equal(few.find('pg_settings_seq_page_cost').length, 0, 'not included');
  t.ok(few.find('pg_settings_autovacuum_vacuum_cost_delay_seconds').length === 1, 'included by pattern');
  t.equal(few.find('pg_settings_autovacuum_vacuum_cost_limit').length, 0, 'excluded by pattern');
  t.equal(few.value('pg_settings_max_connections'), 100, 'the settings alerts use stay');
  t.ok(settingFamilies(all).length > 200, `${settingFamilies(all).length} setting families by default`);
  t.ok(settingFamilies(few).length < 40, `${settingFamilies(few).length} with the lists`);
});
