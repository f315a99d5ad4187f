import t from 'tap';
import { namePatterns, SETTING_METRICS, settingSelected, settingValue } from '../../src/collectors/settings.js';

// pg_settings rows as PostgreSQL 15 prints them (setting, unit, vartype), converted to base units.

t.test('memory units, including multiplied ones', async (t) => {
  t.same(settingValue('16384', '8kB', 'integer'), { value: 16384 * 8192, suffix: 'bytes' }, 'shared_buffers 128MB');
  t.same(settingValue('4096', 'kB', 'integer'), { value: 4 * 1024 * 1024, suffix: 'bytes' }, 'work_mem 4MB');
  t.same(settingValue('1024', 'MB', 'integer'), { value: 1024 ** 3, suffix: 'bytes' }, 'max_wal_size 1GB');
  t.same(settingValue('3', '16MB', 'integer'), { value: 3 * 16 * 1024 ** 2, suffix: 'bytes' });
  t.same(settingValue('10', 'B', 'integer'), { value: 10, suffix: 'bytes' });
  t.same(settingValue('2', 'GB', 'integer'), { value: 2 * 1024 ** 3, suffix: 'bytes' });
  t.same(settingValue('1', 'TB', 'integer'), { value: 1024 ** 4, suffix: 'bytes' });
});

t.test('time units', async (t) => {
  t.same(settingValue('30000', 'ms', 'integer'), { value: 30, suffix: 'seconds' }, 'statement_timeout 30s');
  t.same(settingValue('300', 's', 'integer'), { value: 300, suffix: 'seconds' }, 'checkpoint_timeout 5min');
  t.same(settingValue('2', 'min', 'integer'), { value: 120, suffix: 'seconds' });
  t.same(settingValue('1', 'h', 'integer'), { value: 3600, suffix: 'seconds' });
  t.same(settingValue('1', 'd', 'integer'), { value: 86400, suffix: 'seconds' });
  t.same(settingValue('2', 'ms', 'real'), { value: 0.002, suffix: 'seconds' }, 'autovacuum_vacuum_cost_delay');
  t.same(settingValue('500', 'us', 'integer'), { value: 0.0005, suffix: 'seconds' });
});

t.test('sentinels, unitless, booleans and non-numbers', async (t) => {
  t.same(
    settingValue('-1', 'MB', 'integer'),
    { value: -1, suffix: 'bytes' },
    'max_slot_wal_keep_size -1 = unlimited, not -1 MiB',
  );
  t.same(settingValue('-1', 'ms', 'integer'), { value: -1, suffix: 'seconds' });
  t.same(settingValue('0', 'ms', 'integer'), { value: 0, suffix: 'seconds' }, 'statement_timeout 0 = off');
  t.same(settingValue('100', null, 'integer'), { value: 100, suffix: '' });
  t.same(settingValue('0.2', null, 'real'), { value: 0.2, suffix: '' });
  t.same(settingValue('200000000', null, 'integer'), { value: 200000000, suffix: '' });
  t.same(settingValue('on', null, 'bool'), { value: 1, suffix: '' });
  t.same(settingValue('off', null, 'bool'), { value: 0, suffix: '' });
  t.equal(settingValue('maybe', null, 'bool'), undefined);
  t.equal(settingValue('replica', null, 'enum'), undefined);
  t.equal(settingValue('$libdir', null, 'string'), undefined);
  t.equal(settingValue('', null, 'integer'), undefined);
  t.equal(settingValue('12', 'furlongs', 'integer'), undefined, 'unknown unit: no guess');
});

t.test('metric names follow postgres_exporter: pg_settings_<name, dots as _>[_unit]', async (t) => {
  for (const m of SETTING_METRICS) {
    const expected = `pg_settings_${String(m.value).replace(/\./g, '_')}${m.unit === undefined ? '' : `_${m.unit}`}`;
    t.equal(m.name, expected, `${String(m.value)} is exported as ${expected}`);
  }
  const names = new Map(SETTING_METRICS.map((m) => [m.value, m.name]));
  t.equal(names.get('shared_buffers'), 'pg_settings_shared_buffers_bytes');
  t.equal(names.get('statement_timeout'), 'pg_settings_statement_timeout_seconds');
  t.equal(names.get('pg_stat_statements.track_planning'), 'pg_settings_pg_stat_statements_track_planning');
});

t.test('include/exclude lists select settings beyond the ones alerts use', async (t) => {
  const select = (include: string, exclude: string, name: string) =>
    settingSelected(name, { include: namePatterns(include), exclude: namePatterns(exclude) });
  t.ok(select('*', '', 'random_page_cost'), 'default: every setting');
  t.notOk(select('', '', 'random_page_cost'), 'empty include: none of the others');
  t.ok(select('', '', 'max_connections'), 'the settings alerts use stay, whatever the lists say');
  t.ok(select('', 'max_*', 'max_connections'), 'even when excluded');
  t.ok(select('autovacuum_*,random_page_cost', '', 'autovacuum_vacuum_cost_limit'));
  t.ok(select('autovacuum_*,random_page_cost', '', 'random_page_cost'));
  t.notOk(select('autovacuum_*,random_page_cost', '', 'seq_page_cost'));
  t.notOk(select('*', 'debug_*, log_*', 'log_min_duration_statement'), 'excluded by a pattern');
  t.notOk(select('pg_stat_statements.*', '', 'pg_stat_statementsXsave'), 'a dot is a dot, not any character');
  t.ok(select('pg_stat_statements.*', '', 'pg_stat_statements.save'));
});

t.test('every numeric setting has one family, named as postgres_exporter names it', async (t) => {
  const families = SETTING_METRICS.map((m) => m.name);
  t.equal(new Set(families).size, families.length, 'no family twice');
  t.same(
    families.filter((n) => /_(count|sum|bucket|total|info)$|_(summary|histogram|gauge|counter)_/.test(n)),
    [],
    'no gauge ends in a suffix Prometheus reserves',
  );
  t.ok(SETTING_METRICS.length > 290, `${SETTING_METRICS.length} settings`);
  for (const name of ['random_page_cost', 'seq_page_cost', 'max_worker_processes', 'max_parallel_workers']) {
    t.ok(families.includes(`pg_settings_${name}`), `pg_settings_${name}`);
  }
  t.ok(families.includes('pg_settings_vacuum_cost_delay_seconds'), 'ms → seconds');
  t.ok(families.includes('pg_settings_wal_buffers_bytes'), '8kB blocks → bytes');
});
