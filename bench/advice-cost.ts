import { repoRoot, startPgvigil } from './exporters.js';
import { buildFixture, DATABASE, ROLES } from './fixture.js';
import { prometheusScrape } from './http.js';
import { collectorRuns } from './poll.js';

// What the schema-advice collectors (foreign_keys, autovacuum) and the statements collector's plan
// checks cost: database time per minute at their default intervals, and pgvigil's RSS with them
// on and off. Each collector runs alone on a short interval so a window holds several runs; its
// database time per run (pg_stat_statements, pgvigil's role) is scaled to its default interval.
// Plan checks: the statements collector with PGVIGIL_PLAN_CHECKS on minus off, both at their
// default 15 s, measured over the first minutes (while the plans are first obtained: the
// dearest part) with pgvigil's role granted pg_read_all_data so EXPLAIN is allowed.
//
//   npm run build && node dist/bench/advice-cost.js [--window=60]

const arg = (name: string, fallback: number) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const WINDOW_S = arg('window', 60);

const NEW = ['foreign_keys', 'autovacuum'] as const;
const DEFAULT_INTERVAL: Record<string, number> = { foreign_keys: 300, autovacuum: 60, statements: 15 };
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

async function main() {
  const log = (line: string) => console.error(line);
  const fixture = await buildFixture({ statements: 1000, log });
  await fixture.sql(`GRANT pg_read_all_data TO ${ROLES.pgvigil}`);
  // Foreign keys, half of them indexed, so the advice has something to find.
  await fixture.sql(
    `DO $$ BEGIN FOR i IN 1..200 LOOP
      EXECUTE format('CREATE TABLE fk_child_%s (id int PRIMARY KEY, user_id bigint REFERENCES users)', i);
      IF i % 2 = 0 THEN EXECUTE format('CREATE INDEX ON fk_child_%s (user_id)', i); END IF;
    END LOOP; END $$`,
    [],
    DATABASE,
  );
  const url = fixture.url(ROLES.pgvigil);
  const dbMs = async () =>
    (
      await fixture.sql<{ ms: number }>(
        `SELECT coalesce(sum(total_exec_time), 0)::float8 AS ms FROM pg_stat_statements
         WHERE userid = (SELECT oid FROM pg_roles WHERE rolname = $1)`,
        [ROLES.pgvigil],
      )
    )[0]!.ms;
  const allButThese = async (keep: readonly string[]) => {
    const { collectorDefinitions } = await import('../src/collectors/index.js');
    return collectorDefinitions
      .map((d) => d.name)
      .filter((n) => !keep.includes(n))
      .join(',');
  };
  const rows: string[] = [];

  for (const name of NEW) {
    const exporter = await startPgvigil(url, {
      PGVIGIL_DISABLED_COLLECTORS: await allButThese([name]),
      [`PGVIGIL_${name.toUpperCase()}_INTERVAL_SECONDS`]: '5',
      PGVIGIL_INCLUDE_DATABASES: `^${DATABASE}$`,
    });
    await sleep(6);
    const before = { ms: await dbMs(), runs: collectorRuns((await prometheusScrape(exporter.url)).body) };
    await sleep(WINDOW_S);
    const after = { ms: await dbMs(), runs: collectorRuns((await prometheusScrape(exporter.url)).body) };
    const runs = (after.runs.count.get(name) ?? 0) - (before.runs.count.get(name) ?? 0);
    const perRun = (after.ms - before.ms) / Math.max(1, runs);
    const perMinute = (perRun * 60) / DEFAULT_INTERVAL[name]!;
    rows.push(`| ${name} | ${DEFAULT_INTERVAL[name]} s | ${runs} | ${perRun.toFixed(1)} | ${perMinute.toFixed(1)} |`);
    await exporter.stop();
  }

  // Plan checks: two pgvigil processes side by side, only the statements collector, on and off.
  const classes = `${repoRoot}/deploy/examples/query-classes.yaml`;
  const common = {
    PGVIGIL_DISABLED_COLLECTORS: await allButThese(['statements']),
    PGVIGIL_QUERY_CLASSES_FILE: classes,
  };
  for (const on of [false, true]) {
    const exporter = await startPgvigil(url, { ...common, PGVIGIL_PLAN_CHECKS: String(on) });
    const start = await dbMs();
    await sleep(WINDOW_S);
    const ms = (await dbMs()) - start;
    const body = (await prometheusScrape(exporter.url)).body;
    const checks = [...body.matchAll(/^pgvigil_statements_plan_checks_total\{result="(\w+)"\} (\S+)$/gm)]
      .map((m) => `${m[1]}=${m[2]}`)
      .join(' ');
    rows.push(
      `| statements, PGVIGIL_PLAN_CHECKS=${on} | 15 s | ${collectorRuns(body).count.get('statements') ?? 0} | ` +
        `| ${((ms * 60) / WINDOW_S).toFixed(1)} | ${checks}`,
    );
    await exporter.stop();
  }

  // RSS: everything on (the default) against the new collectors and plan checks off, side by side.
  const withNew = await startPgvigil(url, { PGVIGIL_QUERY_CLASSES_FILE: classes });
  const without = await startPgvigil(url, {
    PGVIGIL_QUERY_CLASSES_FILE: classes,
    PGVIGIL_DISABLED_COLLECTORS: NEW.join(','),
    PGVIGIL_PLAN_CHECKS: 'false',
  });
  await sleep(Math.max(WINDOW_S, 90));
  const rss = (b: number) => (b / 1048576).toFixed(1);
  console.log(
    [
      '| collector | default interval | runs measured | DB ms per run | DB ms per minute at default |',
      '|---|---:|---:|---:|---:|',
      ...rows,
      '',
      `RSS after ${Math.max(WINDOW_S, 90)} s, every collector on: ${rss(withNew.rss())} MiB; ` +
        `foreign_keys, autovacuum and plan checks off: ${rss(without.rss())} MiB`,
    ].join('\n'),
  );
  await withNew.stop();
  await without.stop();
  await fixture.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
