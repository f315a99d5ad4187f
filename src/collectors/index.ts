import { activity } from './activity.js';
import { archiver } from './archiver.js';
import { autovacuum } from './autovacuum.js';
import { bgwriter } from './bgwriter.js';
import { checkCollectorSet } from './check-definition.js';
import { checkpointer } from './checkpointer.js';
import { clientPools } from './client-pools.js';
import { databaseSize } from './database-size.js';
import { foreignKeys } from './foreign-keys.js';
import { indexHealth } from './index-health.js';
import { indexes } from './indexes.js';
import { locks } from './locks.js';
import { pgStatStatements } from './pg-stat-statements.js';
import { pgbouncer } from './pgbouncer.js';
import { recovery } from './recovery.js';
import { replication } from './replication.js';
import { replicationSlots } from './replication-slots.js';
import { settings } from './settings.js';
import { statDatabase } from './stat-database.js';
import { statIo } from './stat-io.js';
import { statWal } from './stat-wal.js';
import { tables } from './tables.js';
import type { CollectorDefinition } from './types.js';
import { volume } from './volume.js';
import { waits } from './waits.js';
import { wal } from './wal.js';
import { walReceiver } from './wal-receiver.js';

// Every collector, listed explicitly: no registration side effects at import. The order is the
// order of families on /metrics. Checked here, at start-up: one name and one family, one owner.
export const collectorDefinitions: readonly CollectorDefinition[] = [
  activity,
  clientPools,
  pgbouncer,
  statDatabase,
  databaseSize,
  settings,
  wal,
  volume,
  recovery,
  replication,
  replicationSlots,
  walReceiver,
  checkpointer,
  bgwriter,
  statIo,
  statWal,
  archiver,
  locks,
  waits,
  tables,
  indexes,
  indexHealth,
  foreignKeys,
  autovacuum,
  pgStatStatements,
];

checkCollectorSet(collectorDefinitions);
