import pg from 'pg';
import t from 'tap';
import { eventually, startPgvigil } from '../helpers/pgvigil.js';
import { testPostgres } from '../helpers/postgres.js';

t.test('client_pools: connections per (application_name, client_addr) and utilization of expected sizes', async (t) => {
  const postgres = await testPostgres(t, { needsControl: true });
  const exporter = await startPgvigil(t, postgres.url, {
    PGVIGIL_EXPECTED_POOL_SIZES: 'heliotrope_imaginal=4,admin=5,absent=2',
  });

  const web = [];
  for (let i = 0; i < 3; i++) web.push(await postgres.client('postgres', { application_name: 'heliotrope_imaginal' }));
  // One over the Unix socket: no client address.
  const viaSocket = new pg.Client({
    host: postgres.cluster!.socketDir,
    port: postgres.cluster!.port,
    user: 'postgres',
    database: 'postgres',
    application_name: 'admin',
  });
  await viaSocket.connect();
  t.teardown(() => viaSocket.end());

  const tcp = { application_name: 'heliotrope_imaginal', client_addr: '127.0.0.1' };
  let m = await exporter.poll('client_pools');
  t.equal(m.value('pg_client_pool_connections', tcp), 3);
  t.equal(m.value('pg_client_pool_utilization_ratio', tcp), 0.75, '3 of 4');
  t.equal(m.value('pg_client_pool_connections', { application_name: 'admin', client_addr: 'local' }), 1);
  t.equal(m.value('pg_client_pool_utilization_ratio', { application_name: 'admin', client_addr: 'local' }), 0.2);
  t.equal(m.value('pg_client_pool_expected_size', { application_name: 'heliotrope_imaginal' }), 4);
  t.equal(m.value('pg_client_pool_expected_size', { application_name: 'absent' }), 2, 'configured but not connected');
  t.equal(m.find('pg_client_pool_utilization_ratio', { application_name: 'absent' }).length, 0);
  t.equal(
    m.find('pg_client_pool_utilization_ratio', { application_name: 'pgvigil-test' }).length,
    0,
    'no expected size: no ratio',
  );

  await web.pop()!.end();
  await eventually(
    async () => {
      m = await exporter.poll('client_pools');
      return m.value('pg_client_pool_connections', tcp) === 2;
    },
    5000,
    'a closed connection leaves the count',
  );
  t.equal(m.value('pg_client_pool_utilization_ratio', tcp), 0.5);
});
