// The seed's query mix: one entry per class, with its share of all operations, the consistency it asks Grey for and
// which physical path bounds its latency on the lab (`floor`: local = served in the client's region, primary = a
// round trip to the PostgreSQL primary's region, commit = that plus the primary's round trip to its sync standby).
// The threshold of each class is p99 < floor + p99BudgetMs.
// Plain data, imported by the k6 script (k6/mix.js) and by the Node runner (run.mjs, cql-ingest.mjs).
export const QUERY_MIX = [
  {
    name: 'user_lookup',
    p99BudgetMs: 50,
    label: 'user lookup',
    share: 0.4,
    protocol: 'pg',
    level: 'eventual read',
    floor: 'local',
    sql: '/* grey: consistency=eventual */ SELECT id, name, email FROM loadtest.users WHERE id = $1',
  },
  {
    name: 'balance_check',
    p99BudgetMs: 50,
    label: 'balance check',
    share: 0.2,
    protocol: 'pg',
    level: 'strong read',
    floor: 'primary',
    sql: '/* grey: consistency=strong */ SELECT balance FROM loadtest.accounts WHERE id = $1',
  },
  {
    name: 'transaction_submit',
    p99BudgetMs: 100,
    label: 'transaction submit',
    share: 0.06,
    protocol: 'pg',
    level: 'strong write',
    floor: 'commit',
    // One autocommit statement: the transaction row and the balance change commit together.
    sql:
      '/* grey: consistency=strong */ WITH t AS (INSERT INTO loadtest.transactions (account_id, amount) VALUES ($1, $2) ' +
      'RETURNING account_id, amount) UPDATE loadtest.accounts a SET balance = a.balance + t.amount FROM t WHERE a.id = t.account_id',
  },
  {
    name: 'event_ingest',
    p99BudgetMs: 100,
    label: 'event ingest',
    share: 0.3,
    protocol: 'cql',
    level: 'CQL write LOCAL_QUORUM',
    floor: 'local',
    cql: 'INSERT INTO grey_lab.events (user_id, at, kind, payload) VALUES (?, ?, ?, ?)',
  },
  {
    name: 'analytics',
    p99BudgetMs: 100,
    label: 'analytics',
    share: 0.04,
    protocol: 'pg',
    level: 'bounded read (30 s)',
    floor: 'local',
    sql: "/* grey: max_staleness=30s */ SELECT count(*) AS n, coalesce(sum(amount), 0) AS total FROM loadtest.transactions WHERE created_at > now() - interval '1 minute'",
  },
]

/** Seconds of untimed load (connections, Grey's pools) before each region's measured seconds. */
export const WARM_UP_SECONDS = 3

/** How many users (and accounts, one each) the runner seeds; the scripts pick ids in 1..SEED_USERS. */
export const SEED_USERS = 10000

/**
 * The PostgreSQL tables the mix reads and writes, one statement each, all idempotent, for the primary: run.mjs runs
 * them on it directly, k6/mix.js (with GREY_SEED=true, as compose.yaml sets it) through Grey.
 */
export const SEED_STATEMENTS = [
  { sql: 'CREATE SCHEMA IF NOT EXISTS loadtest', params: [] },
  { sql: 'CREATE TABLE IF NOT EXISTS loadtest.users (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL)', params: [] },
  {
    sql:
      'CREATE TABLE IF NOT EXISTS loadtest.accounts (' +
      'id int PRIMARY KEY, user_id int NOT NULL REFERENCES loadtest.users (id), balance numeric(14, 2) NOT NULL)',
    params: [],
  },
  {
    sql:
      'CREATE TABLE IF NOT EXISTS loadtest.transactions (' +
      'id bigserial PRIMARY KEY, account_id int NOT NULL REFERENCES loadtest.accounts (id), ' +
      'amount numeric(12, 2) NOT NULL, created_at timestamptz NOT NULL DEFAULT now())',
    params: [],
  },
  { sql: 'CREATE INDEX IF NOT EXISTS transactions_created_at ON loadtest.transactions (created_at)', params: [] },
  {
    sql: "INSERT INTO loadtest.users SELECT g, 'user ' || g, 'user' || g || '@example.com' FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING",
    params: [SEED_USERS],
  },
  {
    sql: 'INSERT INTO loadtest.accounts SELECT g, g, 1000 FROM generate_series(1, $1::int) g ON CONFLICT DO NOTHING',
    params: [SEED_USERS],
  },
  { sql: 'ANALYZE loadtest.users, loadtest.accounts, loadtest.transactions', params: [] },
]
