import pg from 'pg';
import { ConnectionTimeoutError } from '../errors.js';

// One connection to PgBouncer's admin console (the `pgbouncer` database), a different server
// from the PostgreSQL that src/db.ts pools. The console speaks only the simple query protocol
// (a query without parameters) and rejects unknown startup parameters ("unsupported startup
// parameter"), so the client sets none of application_name / options / statement_timeout.
// Reconnects on the next query after any failure.

export class PgbouncerConsole {
  private client: pg.Client | undefined;

  constructor(
    private readonly url: string,
    private readonly connectTimeoutMs: number,
    private readonly queryTimeoutMs: number,
  ) {}

  async query(sql: string): Promise<Record<string, unknown>[]> {
    const client = await this.connected();
    try {
      return (await client.query<Record<string, unknown>>(sql)).rows;
    } catch (err) {
      // A reply we did not get leaves the protocol state unknown: never reuse this connection.
      // A console error (unknown command) keeps it, as the server said so cleanly.
      if ((err as { code?: unknown }).code === undefined) await this.close();
      if (err instanceof Error && /Query read timeout/.test(err.message)) {
        throw new ConnectionTimeoutError(`PgBouncer did not answer ${sql} within ${this.queryTimeoutMs} ms`);
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connected(): Promise<pg.Client> {
    if (this.client !== undefined) return this.client;
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.connectTimeoutMs,
      // Client-side only: never sent in the startup packet.
      query_timeout: this.queryTimeoutMs,
    });
    // PgBouncer restarted or dropped us while idle: reconnect on the next poll.
    client.on('error', () => {
      if (this.client === client) this.client = undefined;
    });
    client.on('end', () => {
      if (this.client === client) this.client = undefined;
    });
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
    return client;
  }
}
