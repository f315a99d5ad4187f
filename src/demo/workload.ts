import type pg from 'pg';

// A light, steady workload of the platform's four query kinds, each with its own latency
// objective in deploy/examples/query-classes.yaml. One admin report in twenty is the slow
// "full export" (it sleeps 300 ms), so the slow-query log and the SLO panels have something to show.

export interface QueryKind {
  readonly name: 'login' | 'workshop' | 'navigation' | 'admin';
  readonly weight: number;
  run(pool: pg.Pool, users: number): Promise<unknown>;
}

const randomUser = (users: number) => 1 + Math.floor(Math.random() * users);

export const QUERY_KINDS: readonly QueryKind[] = [
  {
    name: 'login',
    weight: 40,
    run: (pool, users) =>
      Math.random() < 0.5
        ? pool.query('SELECT id, password_hash FROM users WHERE username = $1', [`user${randomUser(users)}`])
        : pool.query('SELECT id, password_hash FROM users WHERE email = $1', [`user${randomUser(users)}@example.com`]),
  },
  {
    name: 'workshop',
    weight: 30,
    run: (pool, users) => {
      const user = randomUser(users);
      return pool.query(
        'SELECT step_id, data, updated_at FROM workshop_step_data WHERE user_id = $1 AND workshop_id = $2',
        [user, (user % 7) + 1],
      );
    },
  },
  {
    name: 'navigation',
    weight: 20,
    run: (pool, users) =>
      pool.query(
        `UPDATE users SET navigation_progress = jsonb_set(navigation_progress, '{step}', to_jsonb($2::int)),
                          last_login_at = now()
         WHERE id = $1`,
        [randomUser(users), Math.floor(Math.random() * 12)],
      ),
  },
  {
    name: 'admin',
    weight: 10,
    run: (pool) =>
      Math.random() < 0.05
        ? pool.query(
            `SELECT u.username, a.assessment_type, a.score, pg_sleep(0.3)
             FROM user_assessments a JOIN users u ON u.id = a.user_id
             ORDER BY a.completed_at DESC LIMIT 1`,
          )
        : pool.query(
            `SELECT a.assessment_type, date_trunc('day', a.completed_at) AS day, count(*) AS completed,
                    avg(a.score) AS mean_score
         FROM user_assessments a JOIN users u ON u.id = a.user_id
         WHERE a.completed_at > now() - interval '30 days'
         GROUP BY 1, 2 ORDER BY 2 DESC LIMIT 60`,
          ),
  },
];

export interface WorkloadStats {
  queries: number;
  errors: number;
}

/** Runs queries at `ratePerSecond` with up to `concurrency` in flight until stopped. */
export class Workload {
  readonly stats: WorkloadStats = { queries: 0, errors: 0 };
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly totalWeight = QUERY_KINDS.reduce((n, k) => n + k.weight, 0);

  constructor(
    private readonly pool: pg.Pool,
    private readonly users: number,
    private readonly ratePerSecond = 40,
    private readonly concurrency = 8,
    private readonly onError: (err: Error) => void = () => undefined,
  ) {}

  start(): void {
    const tickMs = 50;
    const perTick = (this.ratePerSecond * tickMs) / 1000;
    let carry = 0;
    this.timer = setInterval(() => {
      carry += perTick;
      while (carry >= 1) {
        carry -= 1;
        if (this.inFlight < this.concurrency) void this.runOne();
      }
    }, tickMs);
  }

  private pick(): QueryKind {
    let r = Math.random() * this.totalWeight;
    for (const kind of QUERY_KINDS) {
      r -= kind.weight;
      if (r < 0) return kind;
    }
    return QUERY_KINDS[0]!;
  }

  private async runOne(): Promise<void> {
    this.inFlight++;
    try {
      await this.pick().run(this.pool, this.users);
      this.stats.queries++;
    } catch (err) {
      this.stats.errors++;
      this.onError(err as Error);
    } finally {
      this.inFlight--;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const deadline = Date.now() + 5000;
    while (this.inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
