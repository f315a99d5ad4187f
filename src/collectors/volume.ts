import { statfs } from 'node:fs/promises';
import { gauge, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

// Free space of the data volume, read with statfs(2) on a path pgvigil can see (in Kubernetes the
// sidecar mounts PostgreSQL's volume). Not SQL: it keeps answering while PostgreSQL is down,
// which is exactly when a full disk is the likely cause.

export const volume: CollectorDefinition = {
  name: 'volume',
  description: 'Size, free and available bytes of the data volume (statfs on PGVIGIL_DATA_VOLUME_PATH)',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  needsPostgres: false,
  unconfigured: (config) => (config.PGVIGIL_DATA_VOLUME_PATH === '' ? 'PGVIGIL_DATA_VOLUME_PATH is not set' : undefined),
  create(config) {
    const path = config.PGVIGIL_DATA_VOLUME_PATH;
    return {
      async collect(): Promise<Family[]> {
        const s = await statfs(path);
        const labels = { path };
        return [
          gauge('pg_volume_size_bytes', 'Total bytes of the filesystem holding the data volume path.', [{ labels, value: s.blocks * s.bsize }]),
          gauge('pg_volume_free_bytes', 'Free bytes of the data volume, including blocks reserved for root.', [{ labels, value: s.bfree * s.bsize }]),
          gauge(
            'pg_volume_available_bytes',
            'Bytes of the data volume available to unprivileged users (what PostgreSQL can still write).',
            [{ labels, value: s.bavail * s.bsize }],
          ),
          gauge('pg_volume_files_free', 'Free inodes of the data volume (0 on filesystems without an inode limit).', [{ labels, value: s.ffree }]),
        ];
      },
    };
  },
};
