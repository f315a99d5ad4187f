import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startPgvigil } from '../helpers/pgvigil.js';

// A nearly full volume: an 8 MiB tmpfs filled to ~7 MiB, compared with df. statfs needs no
// PostgreSQL, so the URL points nowhere and the collector must still report.

t.test('data volume free and total bytes of a nearly full filesystem', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pgvigil-volume-'));
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir]).status === 0;
  t.teardown(() => {
    if (mounted) spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  if (mounted) writeFileSync(join(dir, 'fill'), Buffer.alloc(7 * 1024 * 1024, 1));
  else t.comment('tmpfs mount not permitted here: comparing statfs of a plain directory with df');

  const exporter = await startPgvigil(t, 'postgres://nobody@127.0.0.1:1/none', { PGVIGIL_DATA_VOLUME_PATH: dir });
  const m = await exporter.poll('volume');
  const df = spawnSync('df', ['-B1', '--output=size,avail', dir], { encoding: 'utf8' })
    .stdout.trim()
    .split('\n')[1]!
    .trim()
    .split(/\s+/)
    .map(Number);
  const labels = { path: dir };
  t.equal(m.value('pgvigil_collector_success', { collector: 'volume' }), 1);
  t.equal(m.value('pg_volume_size_bytes', labels), df[0], 'size as df says');
  if (mounted) {
    t.equal(m.value('pg_volume_size_bytes', labels), 8 * 1024 * 1024);
    t.equal(m.value('pg_volume_available_bytes', labels), 1024 * 1024, '1 MiB left');
    t.equal(m.value('pg_volume_free_bytes', labels), 1024 * 1024);
  } else {
    t.ok(Math.abs(m.value('pg_volume_available_bytes', labels)! - df[1]!) < 64 * 1024 * 1024, 'available close to df');
  }
});

t.test('the volume collector is off without a path', async (t) => {
  const exporter = await startPgvigil(t, 'postgres://nobody@127.0.0.1:1/none');
  const m = await exporter.scrape();
  t.equal(m.value('pgvigil_collector_enabled', { collector: 'volume' }), 0);
  t.equal(m.find('pg_volume_size_bytes').length, 0);
});
