import { expectedPoolSizesSettings } from '../pool-settings.js';
import type { RowOf } from './collector-spec.js';
import { defineCollector, query } from './define.js';
import type { QueryFn } from './types.js';

/** Also read by the status page (src/status-page.ts). */
export const CLIENT_POOL_UTILIZATION_FAMILY = 'pg_client_pool_utilization_ratio';

// The server's view of each client pool: connections per (application_name, client_addr), so one
// application instance (one client_addr) filling its pool shows before the server runs out.
// Expected sizes come from PGVIGIL_EXPECTED_POOL_SIZES (application_name=size); an application
// not listed gets connections but no utilization. pg_stat_activity_connections (activity collector)
// has the per-database/user/state split; this family only adds the client address.

// client_addr is NULL for Unix-socket clients: labelled "local". pgvigil's own backend excluded.
// Without pg_monitor, other roles' sessions show a NULL client_addr, so they fold into "local".
const CONNECTIONS_SQL = `
SELECT coalesce(application_name, '') AS application_name,
       coalesce(host(client_addr), 'local') AS client_addr,
       count(*)::float8 AS connections
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
GROUP BY 1, 2`;

type PoolSettings = { readonly expectedPoolSizes: ReadonlyMap<string, number> };

const CONNECTIONS_COLUMNS = {
  application_name: 'text',
  client_addr: 'text',
  connections: 'float',
  utilization: 'float?',
} as const;

const CONNECTIONS = query({
  sql: [{ sql: CONNECTIONS_SQL }],
  columns: CONNECTIONS_COLUMNS,
  run: async ({ query, settings }: { query: QueryFn; settings: PoolSettings }, sql) => {
    const rows = await query<RowOf<typeof CONNECTIONS_COLUMNS>>(sql!);
    for (const r of rows) {
      const size = settings.expectedPoolSizes.get(r.application_name);
      r.utilization = size === undefined ? null : r.connections / size;
    }
    return rows;
  },
  metrics: [
    {
      name: 'pg_client_pool_connections',
      type: 'gauge',
      help:
        'Server connections per client application and client address ' +
        '(client_addr "local": Unix socket, or not visible without pg_monitor).',
      labels: ['application_name', 'client_addr'],
      value: 'connections',
    },
    {
      name: CLIENT_POOL_UTILIZATION_FAMILY,
      type: 'gauge',
      unit: 'ratio',
      help:
        'Connections of one application instance (application_name, client_addr) divided by its expected pool size; ' +
        '1 = pool full.',
      labels: ['application_name', 'client_addr'],
      value: 'utilization',
    },
  ],
});

const EXPECTED = query({
  columns: { application_name: 'text', size: 'float' },
  run: ({ settings }: { settings: PoolSettings }) =>
    [...settings.expectedPoolSizes].map(([application_name, size]) => ({ application_name, size })),
  metrics: [
    {
      name: 'pg_client_pool_expected_size',
      type: 'gauge',
      help: 'Configured pool size of one instance of the application (PGVIGIL_EXPECTED_POOL_SIZES).',
      labels: ['application_name'],
      value: 'size',
    },
  ],
});

export const clientPools = defineCollector({
  name: 'client_pools',
  description:
    'pg_stat_activity per client pool: connections per ' +
    '(application_name, client_addr), utilization of expected pool sizes',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  settings: expectedPoolSizesSettings,
  subsystems: ['pg_client_pool'],
  namesReason: 'one pool per series, so the families say pool (singular)',
  queries: [CONNECTIONS, EXPECTED],
});
