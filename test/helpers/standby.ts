import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { asOwner, LocalCluster } from '../../src/dev/local-cluster.js';
import type { TestPostgres } from './postgres.js';

// A streaming standby of a test primary, replicating through a physical slot.
// pg_basebackup refuses servers newer than itself and the npm builds ship no pg_basebackup, so the
// newest local one is used for majors up to its own (Debian's 15 covers 13..15); for newer majors
// the same base backup is taken by hand: pg_backup_start, a file copy, pg_backup_stop's
// backup_label. Both end with standby.signal, primary_conninfo and primary_slot_name.

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Standby {
  readonly cluster: LocalCluster;
  readonly url: string;
  readonly slot: string;
  readonly applicationName: string;
}

function basebackupFor(major: number): string | undefined {
  for (let m = 18; m >= major; m--) {
    const bin = `/usr/lib/postgresql/${m}/bin/pg_basebackup`;
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

function sh(script: string): void {
  const [cmd, argv] = asOwner('sh', ['-c', script]);
  const res = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (res.status !== 0) throw new Error(`standby setup failed: ${res.stderr || res.stdout}`);
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export async function createStandby(
  t: Teardown,
  primary: TestPostgres,
  slot = 'standby1',
  applicationName = 'standby1',
): Promise<Standby> {
  const source = primary.cluster;
  if (source === undefined) throw new Error('a standby needs a local primary cluster');
  const conninfo = `host=127.0.0.1 port=${source.port} user=postgres application_name=${applicationName}`;
  const basebackup = basebackupFor(primary.major);

  const fromPrimary = async (dataDir: string): Promise<void> => {
    if (basebackup !== undefined) {
      const [cmd, argv] = asOwner(basebackup, [
        '-D',
        dataDir,
        '-R',
        '-C',
        '-S',
        slot,
        '-X',
        'stream',
        '-c',
        'fast',
        '-d',
        conninfo,
      ]);
      const res = spawnSync(cmd, argv, { encoding: 'utf8' });
      if (res.status !== 0) throw new Error(`pg_basebackup failed: ${res.stderr}`);
    } else {
      await primary.sql('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
      const c = await primary.client();
      const v15 = primary.major >= 15;
      await c.query(
        v15
          ? `SELECT pg_backup_start('pgvigil-standby', true)`
          : `SELECT pg_start_backup('pgvigil-standby', true, false)`,
      );
      // WAL and runtime files are not part of a base backup: the standby streams WAL from the slot.
      sh(
        `cd ${quote(source.dataDir)} && tar cf - --exclude=./pg_wal --exclude=./postmaster.pid ` +
          `--exclude=./postmaster.opts --exclude='./pg_replslot/*' . 2>/dev/null | ` +
          `(cd ${quote(dataDir)} && tar xf -); mkdir -p ${quote(join(dataDir, 'pg_wal'))}`,
      );
      const { rows } = await c.query<{ labelfile: string }>(
        v15 ? 'SELECT labelfile FROM pg_backup_stop(true)' : 'SELECT labelfile FROM pg_stop_backup(false, true)',
      );
      sh(
        `cat > ${quote(join(dataDir, 'backup_label'))} <<'PGVIGIL_EOF'\n${rows[0]!.labelfile}PGVIGIL_EOF\n` +
          `touch ${quote(join(dataDir, 'standby.signal'))}`,
      );
    }
    // Appended last, so it wins over whatever pg_basebackup -R wrote.
    sh(
      `printf '%s\\n' ${quote(`primary_conninfo = '${conninfo}'`)} ${quote(`primary_slot_name = '${slot}'`)} ` +
        `>> ${quote(join(dataDir, 'postgresql.auto.conf'))}`,
    );
  };

  const cluster = await LocalCluster.create({ major: primary.major, dataDirFrom: fromPrimary });
  t.teardown(() => cluster.destroy());
  return { cluster, url: cluster.url(), slot, applicationName };
}
