import { statfs } from 'node:fs/promises';
import { Type } from '@sinclair/typebox';
import { defineCollector, query } from './define.js';

// Free space of the data volume, read with statfs(2) on a path pgvigil can see (in Kubernetes the
// sidecar mounts PostgreSQL's volume). Not SQL: it keeps answering while PostgreSQL is down,
// which is exactly when a full disk is the likely cause.

interface VolumeSettings {
  readonly path: string;
}

const STATFS = query({
  columns: { path: 'text', size_bytes: 'float', free_bytes: 'float', available_bytes: 'float', files_free: 'float' },
  run: async ({ settings }: { settings: VolumeSettings }) => {
    const s = await statfs(settings.path);
    return [
      {
        path: settings.path,
        size_bytes: s.blocks * s.bsize,
        free_bytes: s.bfree * s.bsize,
        available_bytes: s.bavail * s.bsize,
        files_free: s.ffree,
      },
    ];
  },
  metrics: [
    {
      name: 'pg_volume_size_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Total bytes of the filesystem holding the data volume path.',
      labels: ['path'],
      value: 'size_bytes',
    },
    {
      name: 'pg_volume_free_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Free bytes of the data volume, including blocks reserved for root.',
      labels: ['path'],
      value: 'free_bytes',
    },
    {
      name: 'pg_volume_available_bytes',
      type: 'gauge',
      unit: 'bytes',
      help: 'Bytes of the data volume available to unprivileged users (what PostgreSQL can still write).',
      labels: ['path'],
      value: 'available_bytes',
    },
    {
      name: 'pg_volume_files_free',
      type: 'gauge',
      help: 'Free inodes of the data volume (0 on filesystems without an inode limit).',
      labels: ['path'],
      value: 'files_free',
    },
  ],
});

export const volume = defineCollector<VolumeSettings>({
  name: 'volume',
  description: 'Size, free and available bytes of the data volume (statfs on PGVIGIL_DATA_VOLUME_PATH)',
  scope: 'cluster',
  defaultIntervalSeconds: 15,
  needsPostgres: false,
  settings: {
    variables: {
      PGVIGIL_DATA_VOLUME_PATH: Type.String({
        default: '',
        description:
          'A path on the PostgreSQL data volume (e.g. the mounted PGDATA); enables the volume collector (statfs)',
      }),
    },
    resolve: (values) => ({ path: (values.PGVIGIL_DATA_VOLUME_PATH as string | undefined) ?? '' }),
  },
  unconfigured: (settings) => (settings.path === '' ? 'PGVIGIL_DATA_VOLUME_PATH is not set' : undefined),
  queries: [STATFS],
});
