import pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from './config.js';
import { ConnectionTimeoutError, isConnectionError, isStaleServerFacts, withDeadline } from './errors.js';
import { ReconnectBackoff } from './reconnect-backoff.js';
import { readServerFacts, type ServerFacts } from './server-facts.js';

// pgvigil's own connections. One hard cap over all databases: per-database views force a
// connection per database, and exporters that open a pool per database (or leak connections on
// errors) are how a monitoring sidecar exhausts the server's max_connections. A connection counts
// against the cap from the moment we start opening it until its socket has closed.
//
// The connection database's connections stay open between polls: a new backend starts with a cold
// relation cache, and the size functions the table and index collectors call cost 3-4x more there
// (bench/: the tables query took 930 ms on a new connection, 330 ms on a warm one, at 2000 tables).
// So a full pool closes an idle connection only for a database that has no connection at all (a
// database that has one waits for it), and the idle timeout (PGVIGIL_IDLE_CONNECTION_SECONDS) is
// longer than the default table and index interval.
//
// A connection to any other (discovered) database is closed as soon as its run releases it. A plain
// DROP DATABASE waits at most 5 seconds for the sessions on that database to leave and then fails
// ("database is being accessed by other users"): an idle pgvigil session kept there would make
// every tenant's drop fail, so pgvigil is only ever on such a database while a run reads it.
//
// pg_up reports the server as seen through the connection database. A failure to reach a discovered
// database (dropped a moment ago: "database does not exist"; or its sessions terminated by DROP
// DATABASE ... WITH (FORCE)) says nothing about the server, so it never reports contact lost; a
// server that is really down fails the connection database too, within one heartbeat.

// Keep int8/numeric as strings (node-postgres' default): queryid is a signed int8 and
// counters can pass 2^53. Collectors cast in SQL (::float8) where a JS number is wanted.

const FACTS_MAX_AGE_MS = 5 * 60_000;

/** How long close() waits for each connection's socket to close. */
const CLOSE_WAIT_MS = 2000;

interface PooledConnection {
  readonly client: pg.Client;
  readonly datname: string;
  facts: ServerFacts;
  factsAt: number;
  busy: boolean;
  readonly openedAt: number;
  lastUsed: number;
  broken: boolean;
  /** Closes when its run releases it: a database without a connection needs its slot. */
  retiring: boolean;
}

interface Waiter {
  readonly datname: string;
  readonly resolve: (c: PooledConnection) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface Lease {
  readonly client: pg.Client;
  readonly facts: ServerFacts;
  readonly datname: string;
}

export type ContactListener = (ok: boolean, err?: unknown) => void;

export class Database {
  private readonly connections = new Set<PooledConnection>();
  private readonly backoff: ReconnectBackoff;
  /** Connections being opened or closed: they hold a slot but cannot be used. */
  private pendingSlots = 0;
  /** Connections being opened, per database. */
  private readonly opening = new Map<string, number>();
  private readonly waiters: Waiter[] = [];
  private readonly idleTimer: NodeJS.Timeout;
  private closed = false;
  private readonly listeners: ContactListener[] = [];
  private readonly openListeners: (() => void)[] = [];
  /** Database named in the connection settings: where cluster-wide collectors run. */
  readonly defaultDatabase: string;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
  ) {
    this.backoff = new ReconnectBackoff(config.PGVIGIL_RECONNECT_BACKOFF_MAX_SECONDS * 1000);
    this.defaultDatabase =
      config.connection.database ?? databaseFromUrl(config.connection.connectionString) ?? 'postgres';
    this.idleTimer = setInterval(() => this.closeIdle(), 1000);
    this.idleTimer.unref();
  }

  get size(): number {
    return this.connections.size + this.pendingSlots;
  }

  get maxSize(): number {
    return this.config.PGVIGIL_POOL_SIZE;
  }

  /** Told about every attempt to reach the server, so pg_up follows reality. */
  onContact(listener: ContactListener): void {
    this.listeners.push(listener);
  }

  /** Told about every connection opened, so churn shows as pgvigil_pool_connections_opened_total. */
  onOpened(listener: () => void): void {
    this.openListeners.push(listener);
  }

  reportContact(ok: boolean, err?: unknown): void {
    for (const l of this.listeners) l(ok, err);
  }

  /** A connection to datname failed: only the connection database's failures are the server's. */
  private reportContactLost(datname: string, err: unknown): void {
    if (datname === this.defaultDatabase) this.reportContact(false, err);
    else this.log.debug({ err, datname }, 'connection to a discovered database failed');
  }

  /**
   * Runs fn with a connection to datname. Waits at most timeoutMs for a free slot. If fn does not
   * settle in time, the connection is destroyed (the server's statement_timeout normally wins first).
   */
  async withConnection<T>(datname: string, timeoutMs: number, fn: (lease: Lease) => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    const conn = await this.acquire(datname, timeoutMs);
    try {
      if (Date.now() - conn.factsAt > FACTS_MAX_AGE_MS) {
        conn.facts = await readServerFacts(conn.client);
        conn.factsAt = Date.now();
      }
      const work = fn({ client: conn.client, facts: conn.facts, datname: conn.datname }).catch(async (err: unknown) => {
        if (!isStaleServerFacts(err)) throw err;
        // Planned for facts the server no longer has: read them now and run the work once more.
        conn.facts = await readServerFacts(conn.client);
        conn.factsAt = Date.now();
        return fn({ client: conn.client, facts: conn.facts, datname: conn.datname });
      });
      const result = await withDeadline(work, deadline - Date.now(), () => {
        conn.broken = true;
        return new ConnectionTimeoutError(`gave up after ${timeoutMs} ms`);
      });
      this.reportContact(true);
      return result;
    } catch (err) {
      if (isConnectionError(err)) {
        conn.broken = true;
        this.reportContactLost(datname, err);
      } else if (!(err instanceof ConnectionTimeoutError)) {
        // A query error (permission, timeout, missing extension) still proves the server answers.
        this.reportContact(true);
      }
      throw err;
    } finally {
      this.release(conn);
    }
  }

  private acquire(datname: string, timeoutMs: number): Promise<PooledConnection> {
    if (this.closed) return Promise.reject(new Error('database pool is closed'));
    const idle = this.findIdle(datname);
    if (idle !== undefined) {
      idle.busy = true;
      return Promise.resolve(idle);
    }
    if (this.size < this.maxSize) return this.open(datname, timeoutMs);
    if (this.needsRoom(datname)) {
      // Closing frees the slot only once the socket has closed: the waiter below gets it then.
      const victim = this.evictionCandidate();
      if (victim !== undefined) this.destroy(victim);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new ConnectionTimeoutError(`no free connection within ${timeoutMs} ms (pool size ${this.maxSize})`));
      }, timeoutMs);
      this.waiters.push({ datname, resolve, reject, timer });
    });
  }

  private findIdle(datname: string): PooledConnection | undefined {
    for (const c of this.connections) if (!c.busy && !c.broken && c.datname === datname) return c;
    return undefined;
  }

  /** Connections per database, opening ones included and closing ones not. */
  private connectionsPerDatabase(): Map<string, number> {
    const counts = new Map(this.opening);
    for (const c of this.connections) if (!c.broken) counts.set(c.datname, (counts.get(c.datname) ?? 0) + 1);
    return counts;
  }

  /**
   * Whether a full pool should close one more idle connection: some database wanted by a waiter
   * (or by `asking`) has no connection at all, and fewer slots than such databases are already
   * being freed. Databases that have a connection wait for it instead of taking another's.
   */
  private needsRoom(asking?: string): boolean {
    const counts = this.connectionsPerDatabase();
    const starved = new Set(
      [...this.waiters.map((w) => w.datname), ...(asking === undefined ? [] : [asking])].filter((d) => !counts.has(d)),
    );
    let closing = 0;
    for (const c of this.connections) if (this.closesSoon(c)) closing++;
    return starved.size > closing;
  }

  /** Closing, or busy and to be closed on release: its slot frees without evicting anyone. */
  private closesSoon(c: PooledConnection): boolean {
    return c.broken || (c.busy && (c.retiring || c.datname !== this.defaultDatabase));
  }

  /**
   * An idle connection to close: preferably the youngest of a database that has several (its oldest,
   * warmest one stays), else the least recently used.
   */
  private evictionCandidate(): PooledConnection | undefined {
    const counts = this.connectionsPerDatabase();
    const idle = [...this.connections].filter((c) => !c.busy && !c.broken);
    const rank = (c: PooledConnection) => ((counts.get(c.datname) ?? 0) > 1 ? 0 : 1);
    const victim = idle.sort(
      (a, b) => rank(a) - rank(b) || (rank(a) === 0 ? b.openedAt - a.openedAt : a.lastUsed - b.lastUsed),
    )[0];
    return victim === undefined || rank(victim) === 1 ? victim : this.sparingOldest(victim);
  }

  /**
   * Frees a slot of `conn`'s database, keeping that database's oldest (warmest) connection while a
   * younger one can go instead: returns the connection to close now, or undefined when a younger one
   * closes at the end of its run (marked retiring, or still opening: once open, it is not the
   * oldest, and release closes it while a slot is still wanted).
   */
  private sparingOldest(conn: PooledConnection): PooledConnection | undefined {
    const others = [...this.connections].filter((c) => c.datname === conn.datname && !c.broken && c !== conn);
    if (others.some((c) => c.openedAt < conn.openedAt)) return conn;
    const idle = others.find((c) => !c.busy);
    if (idle !== undefined) return idle;
    const busy = others.find((c) => !c.retiring);
    if (busy !== undefined) {
      busy.retiring = true;
      return undefined;
    }
    if (others.length > 0 || (this.opening.get(conn.datname) ?? 0) > 0) return undefined;
    return conn;
  }

  private async open(datname: string, timeoutMs: number): Promise<PooledConnection> {
    const refusal = this.backoff.refusal();
    if (refusal !== undefined) throw refusal;
    this.pendingSlots++;
    this.opening.set(datname, (this.opening.get(datname) ?? 0) + 1);
    const doneOpening = () => {
      const n = (this.opening.get(datname) ?? 1) - 1;
      if (n > 0) this.opening.set(datname, n);
      else this.opening.delete(datname);
    };
    const connectTimeoutMs = Math.min(timeoutMs, this.config.PGVIGIL_CONNECT_TIMEOUT_SECONDS * 1000);
    const client = new pg.Client({
      ...this.config.connection,
      // node-postgres lets the URL's database override `database`: point the URL itself at datname.
      ...(this.config.connection.connectionString !== undefined
        ? { connectionString: urlWithDatabase(this.config.connection.connectionString, datname) }
        : {}),
      database: datname,
      application_name: 'pgvigil',
      connectionTimeoutMillis: connectTimeoutMs,
      // Read-only sessions: a monitoring role must never write, whatever SQL a collector holds.
      // JIT only adds compile time to small catalog queries.
      options: '-c default_transaction_read_only=on -c jit=off',
    });
    // An idle connection killed by the server (restart, pg_terminate_backend) emits 'error'
    // outside any query: mark it so it is never handed out again.
    client.on('error', (err) => {
      this.log.debug({ err, datname }, 'pgvigil connection lost');
      for (const c of this.connections) if (c.client === client) c.broken = true;
    });
    try {
      await client.connect();
      // Timeouts by SET, not as startup parameters: a startup parameter would hide the server's own
      // values from pg_settings.reset_val, and the settings collector exports those.
      const ms = (seconds: number) => Math.round(seconds * 1000);
      await client.query(
        `SET statement_timeout = ${ms(this.config.PGVIGIL_STATEMENT_TIMEOUT_SECONDS)};
         SET lock_timeout = ${ms(this.config.PGVIGIL_LOCK_TIMEOUT_SECONDS)};
         SET idle_in_transaction_session_timeout = ${ms(this.config.PGVIGIL_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS)}`,
      );
      const facts = await readServerFacts(client);
      const conn: PooledConnection = {
        client,
        datname,
        facts,
        factsAt: Date.now(),
        busy: true,
        openedAt: Date.now(),
        lastUsed: Date.now(),
        broken: false,
        retiring: false,
      };
      this.backoff.succeeded();
      this.pendingSlots--;
      doneOpening();
      this.connections.add(conn);
      for (const l of this.openListeners) l();
      client.once('end', () => {
        this.connections.delete(conn);
        this.wakeWaiter();
      });
      if (this.closed) this.destroy(conn);
      return conn;
    } catch (caught) {
      // node-postgres reports its connect timeout as a bare 'timeout expired' Error.
      const err =
        caught instanceof Error && caught.message === 'timeout expired'
          ? Object.assign(
              new Error(`no answer from PostgreSQL within the connect timeout (${connectTimeoutMs} ms)`, {
                cause: caught,
              }),
              {
                code: 'ETIMEDOUT',
              },
            )
          : caught;
      doneOpening();
      this.reportContactLost(datname, err);
      if (isConnectionError(err)) this.backoff.failed(err);
      // The slot is held until the socket is closed, so a failing server cannot make us exceed the cap.
      await client.end().catch(() => undefined);
      this.pendingSlots--;
      this.wakeWaiter();
      throw err;
    }
  }

  private release(conn: PooledConnection): void {
    conn.busy = false;
    conn.lastUsed = Date.now();
    // Not handed to a waiter either: a chain of runs must not keep a DROP DATABASE waiting.
    if (conn.broken || this.closed || conn.retiring || conn.datname !== this.defaultDatabase) {
      this.destroy(conn);
      return;
    }
    const i = this.waiters.findIndex((w) => w.datname === conn.datname);
    if (i >= 0) {
      const [w] = this.waiters.splice(i, 1);
      clearTimeout(w!.timer);
      conn.busy = true;
      w!.resolve(conn);
      return;
    }
    // A waiter wants a database without a connection: free a slot for it, but keep the database's
    // oldest (warmest) connection when a younger one can go instead.
    if (!this.needsRoom()) return;
    const victim = this.sparingOldest(conn);
    if (victim !== undefined) this.destroy(victim);
  }

  /** Closes a connection; its slot frees once the socket has closed ('end'). */
  private destroy(conn: PooledConnection): void {
    conn.broken = true;
    conn.busy = true;
    const stream = (conn.client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    conn.client.end().catch(() => undefined);
    // end() waits for the server's goodbye; a hung server must not keep the slot forever.
    setTimeout(() => stream?.destroy(), 1000).unref();
  }

  /** Hands a freed slot or idle connection to a waiter: one whose connection is idle, else one with none. */
  private wakeWaiter(): void {
    const counts = this.connectionsPerDatabase();
    const i = [
      this.waiters.findIndex((w) => this.findIdle(w.datname) !== undefined),
      this.waiters.findIndex((w) => !counts.has(w.datname)),
      0,
    ].find((n) => n >= 0 && n < this.waiters.length);
    if (i === undefined) return;
    const w = this.waiters[i]!;
    const idle = this.findIdle(w.datname);
    if (idle === undefined && this.size >= this.maxSize) return;
    this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    if (idle !== undefined) {
      idle.busy = true;
      w.resolve(idle);
    } else {
      this.open(w.datname, this.config.PGVIGIL_CONNECT_TIMEOUT_SECONDS * 1000).then(w.resolve, w.reject);
    }
  }

  private closeIdle(): void {
    const limit = Date.now() - this.config.PGVIGIL_IDLE_CONNECTION_SECONDS * 1000;
    for (const c of this.connections) if (!c.busy && c.lastUsed < limit) this.destroy(c);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.idleTimer);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('database pool is closed'));
    }
    await Promise.all(
      [...this.connections].map(async (c) => {
        if (!c.busy) this.destroy(c);
        if (!this.connections.has(c)) return;
        const ended = new Promise<void>((resolve) => c.client.once('end', () => resolve()));
        // A busy connection closes when its run releases it; one that never does is abandoned.
        await withDeadline(ended, CLOSE_WAIT_MS, () => new Error('connection did not close')).catch(() => undefined);
      }),
    );
  }
}

function urlWithDatabase(url: string, datname: string): string {
  const u = new URL(url);
  u.pathname = `/${encodeURIComponent(datname)}`;
  return u.toString();
}

function databaseFromUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    const name = decodeURIComponent(new URL(url).pathname.slice(1));
    return name === '' ? undefined : name;
  } catch {
    return undefined;
  }
}
