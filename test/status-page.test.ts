import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import t from 'tap';
import { startDemo } from '../src/demo/run.js';
import { createLogger } from '../src/logger.js';
import { eventually } from './helpers/pgvigil.js';

// The status page at `/` in a real headless browser (Debian's chromium), on the demo: its four
// query classes against their objectives, a blocking tree, waits, indexes. Objects and an
// application with hostile names must render as text: no element of theirs may appear in the DOM
// the browser built. The screenshot is kept in test-artifacts/ for a person to look at.

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const ARTIFACTS = resolve('test-artifacts');
const HOSTILE_TABLE = '<img src=x onerror=alert(1)>';
const HOSTILE_INDEX = '<script>alert(2)</script>';
const HOSTILE_APP = '<b>boss</b>';

/** Asynchronous: pgvigil serves the page from this very process, so its event loop must keep running. */
async function chromium(args: string[]): Promise<string> {
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', ...args];
  const { stdout } = await promisify(execFile)(CHROMIUM!, flags, { timeout: 90_000, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

t.test('the status page renders the demo in headless chromium, hostile names as text', async (t) => {
  if (CHROMIUM === undefined) {
    t.fail('chromium is not installed (apt-get install -y chromium)');
    return;
  }
  // Chromium refuses 0.0.0.0 (private network access): the demo listens on loopback here.
  const demo = await startDemo({
    log: createLogger('silent'),
    host: '127.0.0.1',
    port: 0,
    users: 2000,
    ratePerSecond: 60,
    pgbouncer: false,
  });
  t.teardown(() => demo.stop());
  const admin = new pg.Client({ connectionString: demo.cluster.url('platform') });
  await admin.connect();
  t.teardown(() => admin.end());
  const table = `"${HOSTILE_TABLE}"`;
  await admin.query(`CREATE TABLE ${table} (id int primary key, note text); INSERT INTO ${table} VALUES (1, '')`);
  await admin.query(`CREATE INDEX "${HOSTILE_INDEX}" ON ${table} (note)`);
  const holder = new pg.Client({ connectionString: demo.cluster.url('platform'), application_name: HOSTILE_APP });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query('BEGIN');
  await holder.query(`UPDATE ${table} SET note = 'x' WHERE id = 1`);
  const waiter = new pg.Client({ connectionString: demo.cluster.url('platform'), application_name: 'waiter' });
  await waiter.connect();
  t.teardown(() => waiter.end());
  const waiting = waiter.query(`UPDATE ${table} SET note = 'y' WHERE id = 1`);

  const { poller } = demo.pgvigil;
  const classes = ['login', 'workshop', 'navigation', 'admin'];
  const page = async () => (await fetch(`${demo.url}/`)).text();
  let html = '';
  await eventually(
    async () => {
      for (const c of ['statements', 'locks', 'waits', 'index_health', 'activity', 'client_pools']) {
        await poller.pollCollector(c);
      }
      html = await page();
      return classes.every((c) => new RegExp(`<td>${c}</td><td>[^<]+</td><td><span class="(ok|bad)">`).test(html));
    },
    90_000,
    'the four classes with calls on the page',
  );
  t.ok(html.includes('&lt;b&gt;boss&lt;/b&gt;'), 'the hostile application is escaped in the blocking tree');
  t.ok(Buffer.byteLength(html) < 8192, `a few KB: ${Buffer.byteLength(html)} bytes`);

  mkdirSync(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'status-page.png');
  await chromium([`--screenshot=${shot}`, '--window-size=1280,1600', `${demo.url}/`]);
  t.ok(existsSync(shot) && statSync(shot).size > 10_000, `screenshot kept: ${shot}`);

  const dom = await chromium(['--dump-dom', `${demo.url}/`]);
  for (const c of classes) t.match(dom, `<td>${c}</td>`, `class ${c} rendered`);
  t.match(dom, 'Blocking trees', 'the lock section');
  t.match(dom, 'waits', 'the waiter is in the tree');
  t.match(dom, 'Average active sessions by wait type');
  t.match(dom, '&lt;img src=x onerror=alert(1)&gt;', 'the hostile table name is text');
  t.match(dom, '&lt;script&gt;alert(2)&lt;/script&gt;', 'the hostile index name is text');
  t.match(dom, '&lt;b&gt;boss&lt;/b&gt;', 'the hostile application name is text');
  t.notMatch(dom, /<img|<script|<b>boss/, 'no element the names tried to create');

  await holder.query('ROLLBACK');
  await waiting;
});
