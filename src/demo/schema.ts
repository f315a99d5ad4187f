import type pg from 'pg';

// The demo platform's schema: the application pgvigil was born for. Indexes match its primary
// queries (login by username/email, workshop data by user and workshop), so a healthy demo shows
// index hit ratios above 95 % — and one deliberately unindexed report shows a sequential scan.

export const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS users (
  id bigserial PRIMARY KEY,
  username text NOT NULL UNIQUE,
  email text NOT NULL UNIQUE,
  password_hash text NOT NULL,
  navigation_progress jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
CREATE TABLE IF NOT EXISTS workshop_step_data (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id),
  workshop_id int NOT NULL,
  step_id int NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS workshop_step_data_user_workshop_idx ON workshop_step_data (user_id, workshop_id);
CREATE TABLE IF NOT EXISTS user_assessments (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users(id),
  assessment_type text NOT NULL,
  score numeric(5,2) NOT NULL,
  completed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS user_assessments_user_idx ON user_assessments (user_id);
`;

/** Sample data: `users` users, 5 workshop steps and 2 assessments each. */
export async function seed(client: pg.Client, users: number): Promise<void> {
  await client.query(SCHEMA_SQL);
  await client.query(
    `INSERT INTO users (username, email, password_hash, navigation_progress, created_at, last_login_at)
     SELECT 'user' || i, 'user' || i || '@example.com', md5(i::text),
            jsonb_build_object('workshop', i % 7, 'step', i % 12),
            now() - (i % 365) * interval '1 day', now() - (i % 30) * interval '1 hour'
     FROM generate_series(1, $1) AS i
     ON CONFLICT DO NOTHING`,
    [users],
  );
  await client.query(
    `INSERT INTO workshop_step_data (user_id, workshop_id, step_id, data)
     SELECT u.id, (u.id % 7) + 1, s, jsonb_build_object('answer', md5(u.id::text || s), 'done', s < 4)
     FROM users u CROSS JOIN generate_series(1, 5) AS s`,
  );
  await client.query(
    `INSERT INTO user_assessments (user_id, assessment_type, score, completed_at)
     SELECT u.id, (ARRAY['baseline', 'final'])[k], (u.id * 37 + k * 11) % 100, now() - (u.id % 90) * interval '1 day'
     FROM users u CROSS JOIN generate_series(1, 2) AS k`,
  );
  await client.query('ANALYZE');
}
