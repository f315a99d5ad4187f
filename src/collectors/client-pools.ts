import { gauge, type Family } from '../exposition.js';
import type { CollectorDefinition } from './types.js';

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

interface ConnectionsRow {
  application_name: string;
  client_addr: string;
  connections: number;
}

export const clientPools: CollectorDefinition = {
  name: 'client_pools',
  description: 'pg_stat_activity per client pool: connections per (application_name, client_addr), utilization of expected pool sizes',
  scope: 'cluster',
  defaultIntervalSeconds: 10,
  create(config) {
    const expected = config.expectedPoolSizes;
    return {
      families: ['pg_client_pool_connections', 'pg_client_pool_expected_size', 'pg_client_pool_utilization_ratio'],
      async collect({ query }): Promise<Family[]> {
        const rows = await query<ConnectionsRow>(CONNECTIONS_SQL);
        return [
          gauge(
            'pg_client_pool_connections',
            'Server connections per client application and client address (client_addr "local": Unix socket, or not visible without pg_monitor).',
            rows.map(({ connections: value, ...labels }) => ({ labels, value })),
          ),
          gauge(
            'pg_client_pool_expected_size',
            'Configured pool size of one instance of the application (PGVIGIL_EXPECTED_POOL_SIZES).',
            [...expected].map(([application_name, value]) => ({ labels: { application_name }, value })),
          ),
          gauge(
            'pg_client_pool_utilization_ratio',
            'Connections of one application instance (application_name, client_addr) divided by its expected pool size; 1 = pool full.',
            rows.flatMap(({ application_name, client_addr, connections }) => {
              const size = expected.get(application_name);
              return size === undefined ? [] : [{ labels: { application_name, client_addr }, value: connections / size }];
            }),
          ),
        ];
      },
    };
  },
};
