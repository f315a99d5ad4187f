import { parseArgs } from 'node:util';
import { buildFixture, ROLES } from './fixture.js';

// Builds the fixture and keeps it up until Ctrl-C, for profiling by hand:
//   node dist/bench/fixture-serve.js --scale=1
//   DATABASE_URL=<printed> node --cpu-prof dist/src/main.js

const { values } = parseArgs({
  options: { scale: { type: 'string', default: '1' }, users: { type: 'string', default: '100000' } },
});
const fixture = await buildFixture({
  scale: Number(values.scale),
  users: Number(values.users),
  log: (l) => process.stderr.write(`${l}\n`),
});
process.stdout.write(
  `pgvigil:  DATABASE_URL=${fixture.url(ROLES.pgvigil)}\n` +
    `peer:     DATA_SOURCE_NAME=postgresql://${ROLES.peer}@127.0.0.1:${fixture.cluster.port}/demo?sslmode=disable\n` +
    `admin:    ${fixture.url('postgres')}\n`,
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void fixture.close().then(() => process.exit(0));
  });
}
setInterval(() => undefined, 1 << 30);
