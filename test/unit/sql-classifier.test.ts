import t, { type Test } from 'tap'
import fc from 'fast-check'
import { scanSync } from 'libpg-query'
import { PG_RESERVED_WORDS } from '../../src/routing/classify-lexically.js'
import { classifyParseTree } from '../../src/routing/classify-parse-tree.js'
import { LruCache } from '../../src/routing/lru-cache.js'
import {
  classifySql,
  MAX_CACHED_STATEMENT_LENGTH,
  type ClassifierOptions,
  type SqlClassification,
  type StatementClass,
} from '../../src/routing/sql-classifier.js'
import { compileWritingFunctions } from '../../src/routing/sql-function-effect.js'

const OPTIONS: ClassifierOptions = { writingFunctions: ['bump_counter', 'app.audit_touch'] }

/**
 * One statement and what the classifier must say about it. `reason` and `pins` are substrings; fields left
 * out must be empty (no tables, no transaction, no session change, no pin, no grey setting, no hints).
 */
interface Case {
  readonly sql: string
  readonly access: 'read' | 'write'
  readonly reason: string
  readonly tables?: readonly string[]
  readonly kinds?: readonly string[]
  readonly transaction?: object
  readonly session?: readonly object[]
  readonly pins?: string
  readonly grey?: object
  readonly hints?: object
  readonly source?: 'lexical' | 'parser'
}
type More = Omit<Case, 'sql' | 'access' | 'reason'>
const read = (sql: string, reason: string, more: More = {}): Case => ({ sql, access: 'read', reason, ...more })
const write = (sql: string, reason: string, more: More = {}): Case => ({ sql, access: 'write', reason, ...more })

const LEXICAL = { source: 'lexical' } as const
const PARSER = { source: 'parser' } as const
const SELECT = 'SELECT reads'
const DDL = 'DDL ('
const MAINTENANCE = 'maintenance ('
const UNPARSED = 'could not parse: '
const ADVISORY = 'takes an advisory lock, on the primary'
const SESSION_LOCK = 'holds a session-level advisory lock'

const CASES: readonly Case[] = [
  // SELECT that only reads
  read('SELECT 1', SELECT, { ...LEXICAL, kinds: ['SelectStmt'] }),
  read('select * from users where id = $1', SELECT, { ...LEXICAL, tables: ['users'] }),
  read('SELECT u.id, u.name FROM public.users u WHERE u.id = $1 LIMIT 1', SELECT, { ...LEXICAL, tables: ['public.users'] }),
  read('SELECT * FROM "Order" AS o ORDER BY o.id', SELECT, { ...LEXICAL, tables: ['"Order"'] }),
  read('SELECT * FROM "odd""name"', SELECT, { ...LEXICAL, tables: ['"odd""name"'] }),
  read('SELECT * FROM "Schema"."Table"', SELECT, { ...LEXICAL, tables: ['"Schema"."Table"'] }),
  read('SELECT * FROM db.public.t', SELECT, { ...LEXICAL, tables: ['db.public.t'] }),
  read('SELECT * FROM Users', SELECT, { ...LEXICAL, tables: ['users'] }),
  read('SELECT * FROM Ärger', SELECT, { ...LEXICAL, tables: ['"Ärger"'] }),
  read('SELECT * FROM "select"', SELECT, { ...LEXICAL, tables: ['select'] }),
  read('SELECT count(*) FROM orders GROUP BY status HAVING count(*) > 1', SELECT, { ...LEXICAL, tables: ['orders'] }),
  read('SELECT now()', SELECT, LEXICAL),
  read('SELECT $1::int', SELECT, LEXICAL),
  read("SELECT 'for update' FROM t", SELECT, { ...LEXICAL, tables: ['t'] }),
  read('SELECT extract(year FROM created_at) FROM t', SELECT, { ...PARSER, tables: ['t'] }),
  read('SELECT extract(year FROM now())', SELECT, LEXICAL),
  read('SELECT x FROM t WHERE y IS DISTINCT FROM 1', SELECT, { ...PARSER, tables: ['t'] }),
  read('SELECT * FROM a JOIN b ON a.id = b.a_id', SELECT, { ...PARSER, tables: ['a', 'b'] }),
  read('SELECT * FROM t1, t2', SELECT, { ...PARSER, tables: ['t1', 't2'] }),
  read('SELECT (SELECT max(id) FROM u) FROM t', SELECT, { ...PARSER, tables: ['u', 't'] }),
  read('SELECT * FROM generate_series(1, 3)', SELECT, PARSER),
  read('SELECT * FROM t TABLESAMPLE SYSTEM (10)', SELECT, { ...PARSER, tables: ['t'] }),
  read('VALUES (1), (2)', SELECT, { ...PARSER, kinds: ['SelectStmt'] }),
  read('TABLE accounts', SELECT, { tables: ['accounts'] }),
  read('SELECT * FROM t UNION SELECT * FROM u', SELECT, { tables: ['t', 'u'] }),
  read('SELECT * FROM ONLY t', SELECT, { ...PARSER, tables: ['t'] }),
  read('WITH recent AS (SELECT * FROM orders) SELECT * FROM recent', SELECT, { tables: ['orders'] }),
  read('SELECT * FROM t FOR READ ONLY', SELECT, { ...PARSER, tables: ['t'] }),
  read('SELECT myschema.nextval($1)', SELECT, PARSER),
  read('SELECT "NextVal"(1)', SELECT, PARSER),

  // SELECT that writes: locking clauses, INTO, data-modifying CTEs, writing functions
  write('SELECT * FROM t WHERE id = 1 FOR UPDATE', 'SELECT … FOR UPDATE locks rows', { tables: ['t'] }),
  write('SELECT * FROM t FOR NO KEY UPDATE SKIP LOCKED', 'SELECT … FOR NO KEY UPDATE locks rows', { tables: ['t'] }),
  write('SELECT * FROM t FOR SHARE', 'SELECT … FOR SHARE locks rows', { tables: ['t'] }),
  write('SELECT * FROM t FOR KEY SHARE NOWAIT', 'SELECT … FOR KEY SHARE locks rows', { tables: ['t'] }),
  write('SELECT * FROM (SELECT * FROM t FOR UPDATE) s', 'FOR UPDATE locks rows', { tables: ['t'] }),
  write('SELECT * INTO archive FROM t', 'SELECT … INTO creates table archive', { tables: ['archive', 't'] }),
  write('SELECT * INTO TEMP scratch FROM t', 'SELECT … INTO creates table scratch', {
    tables: ['scratch', 't'],
    pins: 'temporary table scratch exists only on this backend',
  }),
  write('WITH d AS (DELETE FROM q WHERE id = 1 RETURNING *) SELECT * FROM d', 'WITH … DELETE (a data-modifying CTE) writes', {
    tables: ['q'],
  }),
  write('WITH i AS (INSERT INTO log VALUES (1) RETURNING id) SELECT id FROM i', 'WITH … INSERT', { tables: ['log'] }),
  write('WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT count(*) FROM u', 'WITH … UPDATE', { tables: ['t'] }),
  write("SELECT nextval('order_seq')", 'nextval() changes a sequence', PARSER),
  write("SELECT setval('s', 42)", 'setval() changes a sequence'),
  write("SELECT pg_catalog.nextval('s')", 'nextval() changes a sequence'),
  write(`SELECT "nextval"('s')`, 'nextval() changes a sequence'),
  write("SELECT NEXTVAL('s')", 'nextval() changes a sequence'),
  write("SELECT nextval ('s')", 'nextval() changes a sequence'),
  write("SELECT nextval/* gap */('s')", 'nextval() changes a sequence'),
  write("SELECT currval('s')", 'currval() reads the sequence state of the backend that ran nextval()'),
  write('SELECT lastval()', 'lastval() reads the sequence state'),
  write("SELECT id, nextval('s') FROM t WHERE x IN (SELECT y FROM u)", 'nextval()', { tables: ['t', 'u'] }),
  write('SELECT bump_counter(1)', 'bump_counter() is configured as a writing function'),
  write('SELECT app.audit_touch($1)', 'app.audit_touch() is configured as a writing function'),
  read('SELECT other.audit_touch($1)', SELECT, PARSER),
  write('SELECT audit_touch($1)', 'app.audit_touch() is configured'),
  write('SELECT * FROM t WHERE id = bump_counter(2)', 'bump_counter()', { tables: ['t'] }),
  write('SELECT "Bump_Counter"(1)', 'bump_counter() is configured'),
  write('SELECT pg_advisory_lock(42)', ADVISORY, { pins: `pg_advisory_lock() ${SESSION_LOCK}` }),
  write('SELECT pg_try_advisory_lock(1, 2)', ADVISORY, { pins: `pg_try_advisory_lock() ${SESSION_LOCK}` }),
  write('SELECT pg_advisory_lock_shared(7)', ADVISORY, { pins: SESSION_LOCK }),
  write('SELECT pg_advisory_xact_lock(42)', 'pg_advisory_xact_lock() takes an advisory lock'),
  write('SELECT pg_try_advisory_xact_lock(42)', ADVISORY),
  write('SELECT pg_advisory_unlock(42)', 'pg_advisory_unlock() releases advisory locks'),
  write("SELECT pg_notify('jobs', 'x')", 'pg_notify() sends a notification'),
  write('SELECT txid_current()', 'assigns a transaction id'),
  write('SELECT pg_current_wal_lsn()', "works on the primary's WAL"),
  write('SELECT lo_create(0)', 'changes large objects'),
  write('SELECT pg_export_snapshot()', 'exports a snapshot'),
  read("SELECT set_config('app.tenant', '7', false)", SELECT, {
    session: [{ kind: 'set', name: 'app.tenant', value: '7', local: false, sql: "SELECT pg_catalog.set_config('app.tenant', '7', false)" }],
  }),
  read("SELECT set_config('App.Tenant', 'it''s', true)", SELECT, {
    session: [
      { kind: 'set', name: 'app.tenant', value: "it's", local: true, sql: "SELECT pg_catalog.set_config('App.Tenant', 'it''s', true)" },
    ],
  }),
  read("SELECT set_config('app.tenant', $1, true)", SELECT),
  read("SELECT set_config('app.tenant', $1, false)", SELECT, { pins: 'set_config() with arguments known only when it runs' }),
  read("SELECT set_config('app.tenant', 'x', $1)", SELECT, { pins: 'set_config()' }),
  read("SELECT set_config('app.tenant', 'x')", SELECT, { pins: 'set_config()' }),
  read('SELECT set_config()', SELECT, { pins: 'set_config()' }),

  // INSERT, UPDATE, DELETE, MERGE
  write('INSERT INTO orders (id, total) VALUES ($1, $2)', 'INSERT writes', { ...LEXICAL, tables: ['orders'], kinds: ['InsertStmt'] }),
  write('insert into s.t values (1), (2) returning id', 'INSERT writes', { ...LEXICAL, tables: ['s.t'] }),
  write('INSERT INTO t AS x (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = x.a + 1', 'INSERT writes', { ...LEXICAL, tables: ['t'] }),
  write('INSERT INTO t DEFAULT VALUES', 'INSERT writes', { ...LEXICAL, tables: ['t'] }),
  write('INSERT INTO t SELECT * FROM u', 'INSERT writes', { ...PARSER, tables: ['t', 'u'] }),
  write("INSERT INTO t VALUES (nextval('s'))", 'INSERT writes', { ...PARSER, tables: ['t'] }),
  write('INSERT INTO t VALUES (pg_advisory_lock(1))', 'INSERT writes', { tables: ['t'], pins: SESSION_LOCK }),
  write('UPDATE accounts SET balance = balance - $1 WHERE id = $2', 'UPDATE writes', {
    ...LEXICAL,
    tables: ['accounts'],
    kinds: ['UpdateStmt'],
  }),
  write('UPDATE t AS x SET a = 1 WHERE x.id = 2 RETURNING *', 'UPDATE writes', { ...LEXICAL, tables: ['t'] }),
  write('UPDATE t x SET a = 1', 'UPDATE writes', { ...LEXICAL, tables: ['t'] }),
  write('UPDATE t SET a = u.a FROM u WHERE t.id = u.id', 'UPDATE writes', { ...PARSER, tables: ['t', 'u'] }),
  write('UPDATE ONLY t SET a = 1', 'UPDATE writes', { ...PARSER, tables: ['t'] }),
  write('UPDATE t SET a = 1 WHERE CURRENT OF c', 'UPDATE writes', { ...LEXICAL, tables: ['t'] }),
  write('DELETE FROM sessions WHERE expires_at < now()', 'DELETE writes', { ...LEXICAL, tables: ['sessions'], kinds: ['DeleteStmt'] }),
  write('DELETE FROM t AS x RETURNING x.id', 'DELETE writes', { ...LEXICAL, tables: ['t'] }),
  write('DELETE FROM t USING u WHERE t.id = u.id', 'DELETE writes', { ...PARSER, tables: ['t', 'u'] }),
  write('DELETE FROM t WHERE id IN (SELECT id FROM u)', 'DELETE writes', { ...PARSER, tables: ['t', 'u'] }),
  write('MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE', 'MERGE writes', { tables: ['t', 's'], kinds: ['MergeStmt'] }),

  // DDL and maintenance
  write('CREATE TABLE t (id int primary key)', `${DDL}CreateStmt) runs on the primary`, { tables: ['t'] }),
  write('CREATE TEMP TABLE scratch (id int)', DDL, { tables: ['scratch'], pins: 'temporary table scratch exists only on this backend' }),
  write('CREATE TEMPORARY TABLE s2 AS SELECT 1', `${DDL}CreateTableAsStmt)`, { tables: ['s2'], pins: 'temporary table s2' }),
  write('CREATE TABLE pg_temp.s3 (a int)', DDL, { tables: ['pg_temp.s3'], pins: 'temporary table pg_temp.s3' }),
  write('CREATE UNLOGGED TABLE u1 (a int)', DDL, { tables: ['u1'] }),
  write('CREATE TEMP VIEW v AS SELECT * FROM t', `${DDL}ViewStmt)`, { tables: ['v', 't'], pins: 'temporary view v' }),
  write('CREATE TEMP SEQUENCE sq', `${DDL}CreateSeqStmt)`, { tables: ['sq'], pins: 'temporary sequence sq' }),
  write('ALTER TABLE t ADD COLUMN b int', `${DDL}AlterTableStmt)`, { tables: ['t'] }),
  write('DROP TABLE a, s."B"', `${DDL}DropStmt)`, { tables: ['a', 's."B"'] }),
  write('DROP INDEX idx', `${DDL}DropStmt)`),
  write('TRUNCATE t1, t2', `${DDL}TruncateStmt)`, { tables: ['t1', 't2'] }),
  write("COMMENT ON TABLE t IS 'x'", `${DDL}CommentStmt)`),
  write('GRANT SELECT ON t TO bob', `${DDL}GrantStmt)`, { tables: ['t'] }),
  write('REVOKE ALL ON t FROM bob', `${DDL}GrantStmt)`, { tables: ['t'] }),
  write('GRANT reader TO bob', `${DDL}GrantRoleStmt)`),
  write('CREATE INDEX CONCURRENTLY i ON t (a)', `${DDL}IndexStmt)`, { tables: ['t'] }),
  write('REINDEX TABLE t', `${MAINTENANCE}ReindexStmt)`, { tables: ['t'] }),
  write('VACUUM ANALYZE t', `${MAINTENANCE}VacuumStmt)`, { tables: ['t'] }),
  write('ANALYZE t', `${MAINTENANCE}VacuumStmt)`, { tables: ['t'] }),
  write('CLUSTER t USING i', `${MAINTENANCE}ClusterStmt)`, { tables: ['t'] }),
  write('REFRESH MATERIALIZED VIEW CONCURRENTLY mv', `${MAINTENANCE}RefreshMatViewStmt)`, { tables: ['mv'] }),
  write('CHECKPOINT', `${MAINTENANCE}CheckPointStmt)`),
  write('CREATE MATERIALIZED VIEW mv AS SELECT * FROM t', DDL, { tables: ['t', 'mv'] }),
  write("CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS $$ SELECT nextval('s') $$", `${DDL}CreateFunctionStmt)`),
  write('CREATE FUNCTION g() RETURNS void BEGIN ATOMIC SELECT pg_advisory_lock(1); END', `${DDL}CreateFunctionStmt)`),
  write("ALTER SYSTEM SET work_mem = '64MB'", `${DDL}AlterSystemStmt)`),
  write('CREATE EXTENSION IF NOT EXISTS pgcrypto', `${DDL}CreateExtensionStmt)`),
  write("LOAD 'auto_explain'", 'LoadStmt is not known to be read-only; sent to the primary'),

  // CALL, DO
  write('CALL transfer(1, 2, 100)', 'CALL runs a procedure, which may write', { kinds: ['CallStmt'] }),
  write('DO $$ BEGIN PERFORM 1; END $$', 'DO runs a code block, which may write', { kinds: ['DoStmt'] }),
  write("DO $$ BEGIN RAISE NOTICE '/* grey: consistency=eventual */'; END $$", 'DO runs a code block'),

  // COPY
  write('COPY t FROM STDIN', 'COPY … FROM writes rows', { tables: ['t'], kinds: ['CopyStmt'] }),
  write('COPY t (a, b) FROM STDIN WITH (FORMAT csv)', 'COPY … FROM writes rows', { tables: ['t'] }),
  write("COPY t FROM PROGRAM 'cat x'", 'COPY … FROM writes rows', { tables: ['t'] }),
  read('COPY t TO STDOUT', 'COPY … TO reads', { tables: ['t'], kinds: ['CopyStmt'] }),
  read('COPY (SELECT * FROM t WHERE a > 1) TO STDOUT WITH CSV', 'COPY … TO reads', { tables: ['t'], kinds: ['CopyStmt'] }),
  write('COPY (DELETE FROM t RETURNING *) TO STDOUT', 'COPY (…) TO runs a statement that writes: DELETE writes', {
    tables: ['t'],
    kinds: ['CopyStmt'],
  }),
  write("COPY (SELECT nextval('s')) TO STDOUT", 'COPY (…) TO runs a statement that writes: nextval()'),
  write("COPY t TO '/tmp/t.csv'", "COPY … TO a server file or program runs on the primary's host", { tables: ['t'] }),
  write("COPY (SELECT 1) TO PROGRAM 'cat'", 'server file or program'),

  // EXPLAIN: only ANALYZE runs the statement
  read('EXPLAIN SELECT * FROM t', 'EXPLAIN without ANALYZE only plans the statement', { tables: ['t'], kinds: ['ExplainStmt'] }),
  read('EXPLAIN DELETE FROM t', 'EXPLAIN without ANALYZE only plans the statement', { tables: ['t'] }),
  write('EXPLAIN ANALYZE DELETE FROM t', 'EXPLAIN ANALYZE runs the statement: DELETE writes', { tables: ['t'], kinds: ['ExplainStmt'] }),
  read('EXPLAIN ANALYZE SELECT * FROM t', 'EXPLAIN ANALYZE runs the statement: SELECT reads', { tables: ['t'] }),
  write('EXPLAIN (ANALYZE, BUFFERS) UPDATE t SET a = 1', 'EXPLAIN ANALYZE runs the statement: UPDATE writes', { tables: ['t'] }),
  read('EXPLAIN (ANALYZE false) DELETE FROM t', 'EXPLAIN without ANALYZE', { tables: ['t'] }),
  read('EXPLAIN (ANALYZE off) INSERT INTO t VALUES (1)', 'EXPLAIN without ANALYZE', { tables: ['t'] }),
  read('EXPLAIN (ANALYZE 0) DELETE FROM t', 'EXPLAIN without ANALYZE', { tables: ['t'] }),
  write('EXPLAIN (ANALYZE 1) DELETE FROM t', 'EXPLAIN ANALYZE runs the statement', { tables: ['t'] }),
  write('EXPLAIN (ANALYZE on, FORMAT JSON) DELETE FROM t', 'EXPLAIN ANALYZE runs the statement', { tables: ['t'] }),
  write("EXPLAIN ANALYSE SELECT nextval('s')", 'EXPLAIN ANALYZE runs the statement: nextval()'),
  read("EXPLAIN SELECT nextval('s')", 'EXPLAIN without ANALYZE'),
  read('EXPLAIN SELECT * FROM t FOR UPDATE', 'EXPLAIN without ANALYZE', { tables: ['t'] }),
  read('EXPLAIN (VERBOSE) SELECT 1', 'EXPLAIN without ANALYZE'),
  write('EXPLAIN EXECUTE q(1)', 'EXPLAIN EXECUTE needs the statement prepared by SQL PREPARE'),
  write('EXPLAIN ANALYZE CREATE TEMP TABLE x AS SELECT 1', `EXPLAIN ANALYZE runs the statement: ${DDL}`, {
    tables: ['x'],
    pins: 'temporary table x',
  }),

  // Transaction control
  read('BEGIN', 'starts a transaction', { ...LEXICAL, transaction: { kind: 'begin' }, kinds: ['TransactionStmt'] }),
  read('begin work', 'starts a transaction', { ...LEXICAL, transaction: { kind: 'begin' } }),
  read('BEGIN TRANSACTION READ ONLY', 'starts a transaction, READ ONLY', { ...LEXICAL, transaction: { kind: 'begin', readOnly: true } }),
  read('BEGIN READ WRITE', 'READ WRITE', { ...LEXICAL, transaction: { kind: 'begin', readOnly: false } }),
  read('BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE', 'READ ONLY', {
    ...LEXICAL,
    transaction: { kind: 'begin', isolation: 'serializable', readOnly: true, deferrable: true },
  }),
  read('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY', 'READ ONLY', {
    ...LEXICAL,
    transaction: { kind: 'begin', isolation: 'repeatable read', readOnly: true },
  }),
  read('BEGIN ISOLATION LEVEL READ COMMITTED', 'starts a transaction', {
    ...LEXICAL,
    transaction: { kind: 'begin', isolation: 'read committed' },
  }),
  read('START TRANSACTION', 'starts a transaction', { ...LEXICAL, transaction: { kind: 'begin' } }),
  read('START TRANSACTION READ ONLY, ISOLATION LEVEL READ UNCOMMITTED, NOT DEFERRABLE', 'READ ONLY', {
    ...LEXICAL,
    transaction: { kind: 'begin', readOnly: true, isolation: 'read uncommitted', deferrable: false },
  }),
  read('COMMIT', 'ends the transaction (COMMIT)', { ...LEXICAL, transaction: { kind: 'commit' } }),
  read('END', 'ends the transaction (COMMIT)', { ...LEXICAL, transaction: { kind: 'commit' } }),
  read('COMMIT AND CHAIN', 'and starts the next one (AND CHAIN)', { ...LEXICAL, transaction: { kind: 'commit', chain: true } }),
  read('commit work and no chain', 'ends the transaction (COMMIT)', { ...LEXICAL, transaction: { kind: 'commit' } }),
  read('ROLLBACK', 'ends the transaction (ROLLBACK)', { ...LEXICAL, transaction: { kind: 'rollback' } }),
  read('ABORT', 'ends the transaction (ROLLBACK)', { ...LEXICAL, transaction: { kind: 'rollback' } }),
  read('SAVEPOINT sp1', 'sets a savepoint', { ...PARSER, transaction: { kind: 'savepoint', name: 'sp1' } }),
  read('RELEASE SAVEPOINT sp1', 'releases a savepoint', { transaction: { kind: 'release', name: 'sp1' } }),
  read('ROLLBACK TO SAVEPOINT sp1', 'rolls back to a savepoint', { ...PARSER, transaction: { kind: 'rollback_to', name: 'sp1' } }),
  write("PREPARE TRANSACTION 'tx1'", 'PREPARE TRANSACTION keeps a two-phase transaction on the primary', {
    transaction: { kind: 'prepare_transaction', name: 'tx1' },
  }),
  write("COMMIT PREPARED 'tx1'", 'COMMIT PREPARED finishes a two-phase transaction', {
    transaction: { kind: 'commit_prepared', name: 'tx1' },
  }),
  write("ROLLBACK PREPARED 'tx1'", 'ROLLBACK PREPARED', { transaction: { kind: 'rollback_prepared', name: 'tx1' } }),
  read('SET TRANSACTION READ ONLY', 'SET TRANSACTION sets the characteristics of the transaction, READ ONLY', {
    ...PARSER,
    transaction: { kind: 'set_transaction', readOnly: true },
    kinds: ['VariableSetStmt'],
  }),
  read('SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SET TRANSACTION', {
    transaction: { kind: 'set_transaction', isolation: 'serializable' },
  }),
  write("SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", 'imports a snapshot exported on the primary', {
    transaction: { kind: 'set_transaction_snapshot' },
  }),
  read('SET CONSTRAINTS ALL DEFERRED', 'SET CONSTRAINTS', { transaction: { kind: 'set_constraints' }, kinds: ['ConstraintsSetStmt'] }),
  read('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY', 'SET SESSION CHARACTERISTICS changes the defaults of later transactions', {
    session: [{ kind: 'session_characteristics', readOnly: true, sql: 'SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY' }],
  }),

  // Session settings: recorded for replay
  read('SET search_path = app, public', 'SET search_path changes session state, replayed on each backend', {
    ...PARSER,
    session: [{ kind: 'set', name: 'search_path', value: 'app, public', local: false, sql: 'SET search_path = app, public' }],
  }),
  read('SET statement_timeout = 5000', 'SET statement_timeout', {
    ...LEXICAL,
    session: [{ kind: 'set', name: 'statement_timeout', value: '5000', local: false, sql: 'SET statement_timeout = 5000' }],
  }),
  read("SET LOCAL lock_timeout TO '2s'", 'SET LOCAL lock_timeout changes the transaction only', {
    ...LEXICAL,
    session: [{ kind: 'set', name: 'lock_timeout', value: '2s', local: true }],
  }),
  read("set application_name = 'it''s me'", 'SET application_name', { ...LEXICAL, session: [{ kind: 'set', value: "it's me" }] }),
  read("SET datestyle = 'ISO, MDY'", 'SET datestyle', { ...LEXICAL, session: [{ kind: 'set', value: 'ISO, MDY' }] }),
  read('SET enable_seqscan = OFF', 'SET enable_seqscan', { ...LEXICAL, session: [{ kind: 'set', value: 'off' }] }),
  read('SET extra_float_digits = 0', 'SET extra_float_digits', { ...LEXICAL, session: [{ kind: 'set', value: '0' }] }),
  read('SET x.y = 1.5', 'SET x.y', { ...PARSER, session: [{ kind: 'set', name: 'x.y', value: '1.5' }] }),
  read('SET x.y = -1', 'SET x.y', { ...PARSER, session: [{ kind: 'set', value: '-1' }] }),
  read("SET TIME ZONE 'UTC'", 'SET timezone', { ...PARSER, session: [{ kind: 'set', name: 'timezone', value: 'UTC' }] }),
  read("SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE", 'SET timezone', {
    session: [{ kind: 'set', name: 'timezone', value: null, sql: "SET TIME ZONE INTERVAL '+02:00' HOUR TO MINUTE" }],
  }),
  read('SET ROLE reporting', 'SET role', { session: [{ kind: 'set', name: 'role', value: 'reporting' }] }),
  read('SET SESSION AUTHORIZATION DEFAULT', 'RESET session_authorization', { session: [{ kind: 'reset', name: 'session_authorization' }] }),
  read('SET x.y TO DEFAULT', 'RESET x.y', {
    ...LEXICAL,
    session: [{ kind: 'reset', name: 'x.y', local: false, sql: 'SET x.y TO DEFAULT' }],
  }),
  read('RESET search_path', 'RESET search_path', { ...PARSER, session: [{ kind: 'reset', name: 'search_path', local: false }] }),
  read('RESET ALL', 'RESET ALL returns every setting to its default', { session: [{ kind: 'reset_all', sql: 'RESET ALL' }] }),
  read('DISCARD ALL', 'DISCARD ALL drops session state', {
    session: [{ kind: 'discard', what: 'all', sql: 'DISCARD ALL' }],
    kinds: ['DiscardStmt'],
  }),
  read('DISCARD PLANS', 'DISCARD PLANS', { session: [{ kind: 'discard', what: 'plans' }] }),
  read('DISCARD SEQUENCES', 'DISCARD SEQUENCES', { session: [{ kind: 'discard', what: 'sequences' }] }),
  read('DISCARD TEMP', 'DISCARD TEMP', { session: [{ kind: 'discard', what: 'temp' }] }),
  read('SHOW search_path', 'SHOW search_path reads a setting', { ...LEXICAL, kinds: ['VariableShowStmt'] }),
  read('SHOW ALL', 'SHOW all reads a setting', LEXICAL),
  read('SHOW TRANSACTION ISOLATION LEVEL', 'SHOW transaction_isolation', PARSER),

  // grey.* settings: answered by the proxy
  read("SET grey.consistency = 'eventual'", 'SET grey.consistency is answered by the proxy', {
    ...LEXICAL,
    grey: { action: 'set', name: 'grey.consistency', value: 'eventual' },
  }),
  read('SET grey.consistency TO strong', 'answered by the proxy', {
    ...PARSER,
    grey: { action: 'set', name: 'grey.consistency', value: 'strong' },
  }),
  read("SET LOCAL grey.max_staleness = '2s'", 'answered by the proxy', {
    ...LEXICAL,
    grey: { action: 'set', name: 'grey.max_staleness', value: '2s', local: true },
  }),
  read("SET grey.after = 'AAEC.0.16'", 'answered by the proxy', { grey: { action: 'set', name: 'grey.after', value: 'AAEC.0.16' } }),
  read("SET grey.consistency = 'strongest'", 'answered by the proxy', {
    grey: {
      action: 'set',
      value: 'strongest',
      problem: "SET grey.consistency = 'strongest' (did you mean strong?): use one of strong, bounded, session, eventual",
    },
  }),
  read("SET grey.max_staleness = 'soon'", 'answered by the proxy', { grey: { problem: 'is not a duration' } }),
  read("SET grey.token = 'x'", 'answered by the proxy', { grey: { problem: 'grey.token is read-only: SHOW grey.token reads it' } }),
  read("SET grey.colour = 'x'", 'answered by the proxy', { grey: { problem: 'unknown setting grey.colour' } }),
  read("SET grey.consistancy = 'strong'", 'answered by the proxy', { grey: { problem: 'did you mean grey.consistency?' } }),
  read('SET grey.queue = on', 'answered by the proxy', { grey: { problem: 'mark each write that may be queued with /* grey: queue */' } }),
  read("SET grey.route = 'replica', 'primary'", 'answered by the proxy', { grey: { problem: "SET grey.route = 'replica, primary'" } }),
  read("SET grey.key = E'user:\\\\1'", 'answered by the proxy', { ...PARSER, grey: { action: 'set', value: 'user:\\1' } }),
  read("SET TIME ZONE INTERVAL '1' HOUR", 'SET timezone', { session: [{ kind: 'set', value: null }] }),
  read('SHOW grey.token', 'SHOW grey.token is answered by the proxy', { ...LEXICAL, grey: { action: 'show', name: 'grey.token' } }),
  read('SHOW grey.consistency', 'answered by the proxy', { grey: { action: 'show', name: 'grey.consistency' } }),
  read('SHOW grey.nope', 'answered by the proxy', { grey: { action: 'show', problem: 'unknown setting grey.nope' } }),
  read('RESET grey.consistency', 'RESET grey.consistency is answered by the proxy', {
    ...PARSER,
    grey: { action: 'reset', name: 'grey.consistency' },
  }),
  read('RESET grey.token', 'answered by the proxy', { grey: { action: 'reset', problem: 'grey.token is read-only' } }),
  read('SET grey.consistency TO DEFAULT', 'RESET grey.consistency', { ...LEXICAL, grey: { action: 'reset', name: 'grey.consistency' } }),
  read("SET grey.consistency = 'eventual'; SELECT 1", 'all 2 statements read', {
    grey: { action: 'set', problem: 'SET grey.consistency must be sent as a query of its own' },
  }),

  // Cursors, SQL-level prepared statements, LISTEN/NOTIFY, LOCK
  read('DECLARE c CURSOR FOR SELECT * FROM t', 'DECLARE c reads through a cursor', { tables: ['t'], kinds: ['DeclareCursorStmt'] }),
  read('DECLARE c CURSOR WITH HOLD FOR SELECT * FROM t', 'DECLARE c reads', {
    tables: ['t'],
    pins: 'cursor c is declared WITH HOLD and stays open on this backend after COMMIT',
  }),
  read('DECLARE c BINARY SCROLL CURSOR WITHOUT HOLD FOR SELECT 1', 'DECLARE c reads'),
  write('DECLARE c CURSOR FOR SELECT * FROM t FOR UPDATE', 'SELECT … FOR UPDATE locks rows', {
    tables: ['t'],
    kinds: ['DeclareCursorStmt'],
  }),
  write('DECLARE c CURSOR FOR SELECT pg_advisory_lock(1)', ADVISORY, { pins: SESSION_LOCK }),
  read('FETCH 10 FROM c', 'FETCH reads cursor c on the backend that declared it', { kinds: ['FetchStmt'] }),
  read('FETCH ALL IN c', 'FETCH reads cursor c'),
  read('MOVE NEXT IN c', 'MOVE moves cursor c on the backend that declared it'),
  read('CLOSE c', 'CLOSE c closes cursors on the backend that declared them'),
  read('CLOSE ALL', 'CLOSE ALL closes cursors'),
  write('PREPARE q (int) AS SELECT * FROM t WHERE id = $1', 'PREPARE runs on the primary, where EXECUTE will look for the statement', {
    tables: ['t'],
    pins: 'prepared statement q exists only on this backend',
    kinds: ['PrepareStmt'],
  }),
  write('EXECUTE q(1)', 'EXECUTE runs a statement prepared by SQL PREPARE, on the primary', { kinds: ['ExecuteStmt'] }),
  write("EXECUTE q(pg_advisory_lock(1), nextval('s'))", 'EXECUTE runs a statement prepared by SQL PREPARE', { pins: SESSION_LOCK }),
  write('DEALLOCATE q', 'DEALLOCATE drops a statement prepared by SQL PREPARE'),
  write('DEALLOCATE ALL', 'DEALLOCATE'),
  write('LISTEN jobs', 'LISTEN runs on the primary (a standby cannot listen)', {
    pins: 'LISTEN jobs: notifications arrive on this backend only',
  }),
  write('UNLISTEN jobs', 'UNLISTEN runs on the primary'),
  write('UNLISTEN *', 'UNLISTEN runs on the primary'),
  write("NOTIFY jobs, 'payload'", 'NOTIFY runs on the primary (a standby cannot notify)'),
  write('LOCK TABLE t IN ACCESS EXCLUSIVE MODE', 'LOCK takes table locks on the primary', { tables: ['t'] }),
  write('LOCK t, s.u', 'LOCK takes table locks', { tables: ['t', 's.u'] }),

  // Several statements in one query
  read('SELECT 1; SELECT 2', 'all 2 statements read', { ...PARSER, kinds: ['SelectStmt', 'SelectStmt'] }),
  write('SELECT * FROM a; UPDATE b SET x = 1', 'statement 2 of 2: UPDATE writes', {
    tables: ['a', 'b'],
    kinds: ['SelectStmt', 'UpdateStmt'],
  }),
  write('BEGIN; INSERT INTO t VALUES (1); COMMIT', 'statement 2 of 3: INSERT writes', {
    tables: ['t'],
    transaction: { kind: 'commit' },
    kinds: ['TransactionStmt', 'InsertStmt', 'TransactionStmt'],
  }),
  read("SET a.b = 1; SET a.c = 'x'", 'all 2 statements read', {
    session: [
      { kind: 'set', name: 'a.b', sql: 'SET a.b = 1' },
      { kind: 'set', name: 'a.c', sql: "SET a.c = 'x'" },
    ],
  }),
  read("SET a.b = 'é';SET a.c = 'ü' ; ", 'all 2 statements read', {
    session: [
      { kind: 'set', value: 'é', sql: "SET a.b = 'é'" },
      { kind: 'set', value: 'ü', sql: "SET a.c = 'ü'" },
    ],
  }),
  write('SELECT 1; SELECT pg_advisory_lock(1)', `statement 2 of 2: pg_advisory_lock() ${ADVISORY}`, { pins: SESSION_LOCK }),
  read('SELECT 1;', SELECT, { ...LEXICAL, kinds: ['SelectStmt'] }),
  read(';; SELECT 1 ;;', SELECT, { ...PARSER, kinds: ['SelectStmt'] }),
  write('SELECT 1; garbage', `${UNPARSED}syntax error at or near "garbage"; sent to the primary`, { kinds: [] }),

  // Comments and hints in every position
  read('/* grey: consistency=strong */ SELECT * FROM t', SELECT, { ...LEXICAL, tables: ['t'], hints: { consistency: 'strong' } }),
  read('SELECT /* grey: route=primary */ * FROM t', SELECT, { ...LEXICAL, tables: ['t'], hints: { route: 'primary' } }),
  read('SELECT * FROM t /* grey: max_staleness=2s */', SELECT, { tables: ['t'], hints: { consistency: 'bounded', maxStalenessMs: 2000 } }),
  read('SELECT * FROM t -- grey: consistency=eventual', SELECT, { tables: ['t'], hints: { consistency: 'eventual' } }),
  read('-- grey: key=user:42\nSELECT * FROM t', SELECT, { tables: ['t'], hints: { key: 'user:42' } }),
  read('SELECT * FROM t; -- grey: queue', SELECT, { ...LEXICAL, tables: ['t'], hints: { queue: true } }),
  write('INSERT INTO t VALUES (1) /* grey: queue, key=user:7 */', 'INSERT writes', {
    tables: ['t'],
    hints: { queue: true, key: 'user:7' },
  }),
  write("SELECT nextval('s') /* grey: route=replica */", 'nextval()', { hints: { route: 'replica' } }),
  write('SELECT * FROM t FOR UPDATE -- grey: consistency=eventual', 'FOR UPDATE', { tables: ['t'], hints: { consistency: 'eventual' } }),
  read('/* outer /* grey: consistency=strong */ still outer */ SELECT 1', SELECT),
  read('/* grey: consistency=strong /* a nested note */ */ SELECT 1', SELECT, { hints: { consistency: 'strong' } }),
  read('/* grey: consistency=strong */ /* grey: after=tok1 */ SELECT 1 -- grey: key=k', SELECT, {
    hints: { consistency: 'strong', after: 'tok1', key: 'k' },
  }),
  read("SELECT '/* grey: consistency=strong */' FROM t", SELECT, { ...LEXICAL, tables: ['t'] }),
  read("SELECT '-- grey: consistency=strong' FROM t", SELECT, { ...LEXICAL, tables: ['t'] }),
  read('SELECT $$ /* grey: route=primary */ $$', SELECT, LEXICAL),
  read('SELECT $tag$ -- grey: route=primary $x$ $tag$', SELECT, LEXICAL),
  read('SELECT "/* grey: route=primary */" FROM t', SELECT, { tables: ['t'] }),
  read("SELECT E'it\\'s /* grey: route=primary */' FROM t", SELECT, { tables: ['t'] }),
  read("SELECT 'it''s' /* grey: route=replica */ FROM t", SELECT, { tables: ['t'], hints: { route: 'replica' } }),
  read("SELECT 'a' -- grey: consistency=session\n'b'", SELECT, { ...LEXICAL, hints: { consistency: 'session' } }),
  read('/* grey: consistency=sometimes */ SELECT 1', SELECT, {
    hints: { problems: [/consistency=sometimes: use one of strong, bounded/] },
  }),
  read('SELECT/**/1', SELECT, LEXICAL),

  // Nothing to run, or nothing parseable
  read('', 'empty query', { kinds: [] }),
  read('/* just a comment */', 'empty query', { kinds: [] }),
  read('  ;  ', 'empty query', { kinds: [] }),
  write('SELEC 1', `${UNPARSED}syntax error at or near "SELEC"; sent to the primary`, { kinds: [] }),
  write('hello world', UNPARSED, { kinds: [] }),
  write('INSERT INTO', UNPARSED),
  write('SELECT 1 /* unterminated', UNPARSED),
  write("SELECT 'unterminated", UNPARSED),
  write('BEGIN READ ONLY,', UNPARSED),
  write('SET grey.consistency =', UNPARSED),
  write('UPDATE t AS 1 SET a = 1', UNPARSED),
  write('BEGIN ISOLATION SERIALIZABLE', UNPARSED),
  write('START WORK', UNPARSED),
  read('SET search_path FROM CURRENT', 'SET search_path', { session: [{ kind: 'set', name: 'search_path', value: null }] }),
  read('SET grey.after FROM CURRENT', 'answered by the proxy', {
    grey: { action: 'set', problem: 'SET grey.after takes one constant value' },
  }),
]

const EMPTY: More = { tables: [], session: [], hints: {} }

function check(t: Test, c: Case, got: SqlClassification): void {
  const want = { ...EMPTY, ...c }
  t.equal(got.access, want.access, 'access')
  t.match(got.reason, want.reason, 'reason')
  t.same(got.tables, want.tables, 'tables')
  if (want.kinds !== undefined) t.same(got.statementKinds, want.kinds, 'statement kinds')
  t.same(got.transaction, want.transaction ?? null, 'transaction')
  t.equal(got.session.length, want.session!.length, 'session changes')
  t.match(got.session, want.session, 'session')
  if (want.pins === undefined) t.equal(got.pins, null, 'pins')
  else t.match(got.pins, want.pins, 'pins')
  if (want.grey === undefined) t.equal(got.greySetting, null, 'grey setting')
  else t.match(got.greySetting, want.grey, 'grey setting')
  if (want.grey !== undefined && !('problem' in want.grey)) t.notOk(got.greySetting?.problem, 'no problem with the grey setting')
  const { problems, ...hints } = got.hints
  const { problems: wantProblems, ...wantHints } = want.hints as { problems?: RegExp[] }
  t.same(hints, wantHints, 'hints')
  t.match(problems, wantProblems ?? [], 'hint problems')
  t.equal(problems.length, wantProblems?.length ?? 0, 'hint problem count')
  if (want.source !== undefined) t.equal(got.source, want.source, 'source')
}

t.ok(CASES.length >= 150, `${CASES.length} table cases`)

t.test('the table of statements', async (t) => {
  for (const c of CASES) {
    t.test(JSON.stringify(c.sql), async (t) => check(t, c, classifySql(c.sql, OPTIONS)))
  }
})

const withoutSource = ({ source: _source, ...rest }: SqlClassification): Omit<SqlClassification, 'source'> => rest

t.test('the lexical path answers exactly as the parser would, for every table case it answers', async (t) => {
  let lexical = 0
  for (const c of CASES) {
    const fast = classifySql(c.sql, OPTIONS)
    if (fast.source !== 'lexical' || fast.statementKinds.length === 0) continue
    lexical++
    t.same(withoutSource(classifySql(c.sql, { ...OPTIONS, lexicalPath: false })), withoutSource(fast), c.sql)
  }
  t.ok(lexical >= 40, `${lexical} table cases take the lexical path`)
})

// Random statements from fragments that trip up tokenisers: wherever the lexical path answers for valid SQL,
// the parser agrees. (For a syntax error it may answer "read": the server rejects the statement wherever it goes.)
t.test('the lexical path agrees with the parser on random statements', async (t) => {
  const heads = [
    'SELECT',
    'select',
    'INSERT INTO',
    'UPDATE',
    'DELETE FROM',
    'SET',
    'SET LOCAL',
    'SHOW',
    'BEGIN',
    'START TRANSACTION',
    'COMMIT',
    'END',
    'ROLLBACK',
    'ABORT',
  ]
  const words = [
    'a',
    't',
    's.t',
    'c.s.t',
    'c.s.t.u',
    '"T"',
    '"a b"',
    '""',
    'FROM',
    'WHERE',
    'JOIN',
    ',',
    '(',
    ')',
    '=',
    '*',
    '1',
    '007',
    '-1',
    '1.5',
  ]
  const more = [
    "'x'",
    "'it''s'",
    "E'a\\'b'",
    "'for update'",
    'FOR UPDATE',
    'INTO',
    'nextval(',
    'count(',
    'AS',
    'VALUES',
    'SET',
    'DEFAULT',
    'LIMIT 1',
  ]
  const tricky = [
    'IS DISTINCT FROM',
    'extract(year FROM d)',
    ';',
    'on',
    'true',
    'READ',
    'ONLY',
    'WRITE',
    'ISOLATION LEVEL',
    'SERIALIZABLE',
    'REPEATABLE',
  ]
  const rest = [
    'COMMITTED',
    'NOT',
    'DEFERRABLE',
    'TO',
    'grey.consistency',
    'RETURNING',
    'USING',
    'natural',
    'left',
    'user',
    'time',
    '$1',
    '/* c */',
  ]
  const odd = [
    '-- c\n',
    '$$x$$',
    'WORK',
    'AND',
    'CHAIN',
    'NO',
    'ALL',
    'WITH',
    'ON CONFLICT DO UPDATE SET a = 1',
    'DEFAULT VALUES',
    'pg_advisory_lock(',
  ]
  const last = [
    'set_config(',
    'bump_counter(',
    '"nextval"(',
    'x.nextval(',
    'CURRENT OF c',
    '.',
    'session',
    'ORDER BY a',
    "'a'\n'b'",
    'Ä',
    'a'.repeat(70),
    'set',
  ]
  const fragments = [...words, ...more, ...tricky, ...rest, ...odd, ...last]
  const statement = fc
    .tuple(fc.constantFrom(...heads), fc.array(fc.constantFrom(...fragments), { maxLength: 8 }))
    .map(([head, tail]) => [head, ...tail].join(' '))
  let compared = 0
  fc.assert(
    fc.property(statement, (sql) => {
      const fast = classifySql(sql, OPTIONS)
      if (fast.source !== 'lexical') return
      const parsed = classifySql(sql, { ...OPTIONS, lexicalPath: false })
      if (parsed.reason.startsWith(UNPARSED)) return
      compared++
      t.same(withoutSource(parsed), withoutSource(fast), sql)
    }),
    { numRuns: 3000, seed: 20240611 },
  )
  t.ok(compared > 100, `${compared} valid statements compared`)
})

t.test('the cache keeps one parse per statement text, whatever its comments; hints come from each text', async (t) => {
  const cache = new LruCache<string, StatementClass>(10)
  const options = { ...OPTIONS, cache }
  const plain = classifySql("SELECT nextval('s') FROM t", options)
  const hinted = classifySql("/* grey: route=replica */ SELECT   nextval('s') -- grey: key=user:1\nFROM t", options)
  const other = classifySql("SELECT nextval('s') /* grey: consistency=strong */ FROM t;", options)
  t.equal(cache.size, 1, 'one entry for the three texts')
  t.equal(cache.hits, 2)
  t.equal(cache.misses, 1)
  t.same(withoutHints(hinted), withoutHints(plain), 'same classification')
  t.same(withoutHints(other), withoutHints(plain), 'same classification')
  t.same(plain.hints, { problems: [] })
  t.same(hinted.hints, { route: 'replica', key: 'user:1', problems: [] })
  t.same(other.hints, { consistency: 'strong', problems: [] })
  t.ok(Object.isFrozen(plain.tables), 'cached parts cannot be changed by a caller')
  t.throws(() => (plain.tables as string[]).push('x'))

  classifySql('SELECT 1', options)
  t.equal(cache.size, 1, 'lexical answers are not cached')
  classifySql(`SELECT nextval('s'), '${'x'.repeat(MAX_CACHED_STATEMENT_LENGTH)}'`, options)
  t.equal(cache.size, 1, 'very long statements are not cached')
})

const withoutHints = ({ hints: _hints, ...rest }: SqlClassification): Omit<SqlClassification, 'hints'> => rest

t.test('different writing functions do not share cache entries', async (t) => {
  const cache = new LruCache<string, StatementClass>(10)
  const sql = 'SELECT touch(1) FROM a JOIN b USING (id)'
  t.equal(classifySql(sql, { writingFunctions: [], cache }).access, 'read')
  t.equal(classifySql(sql, { writingFunctions: ['touch'], cache }).access, 'write')
  t.equal(classifySql(sql, { writingFunctions: [] }).access, 'read', 'the shared cache')
  t.equal(cache.size, 2)
  const configured = ['a', 'b.c']
  t.equal(compileWritingFunctions(configured), compileWritingFunctions(configured), 'compiled once per configuration array')
})

t.test('parse trees of unexpected shapes are writes, never a crash', async (t) => {
  const writing = compileWritingFunctions([])
  const classify = (tree: unknown): StatementClass => classifyParseTree(tree, 'x', writing)
  t.match(classify({ stmts: [{ stmt: { FutureStmt: {} } }] }), {
    access: 'write',
    reason: 'FutureStmt is not known to be read-only; sent to the primary',
  })
  t.match(classify({ stmts: [{ stmt: { TransactionStmt: { kind: 'TRANS_STMT_FUTURE' } } }] }), {
    access: 'write',
    statementKinds: ['TransactionStmt'],
  })
  t.match(classify({ stmts: [{ stmt: { DiscardStmt: { target: 'DISCARD_FUTURE' } } }] }), {
    access: 'write',
    statementKinds: ['DiscardStmt'],
  })
  t.match(classify({ stmts: [{ stmt: 'nonsense' }] }), { access: 'write', reason: 'unknown node is not known to be read-only' })
  t.match(classify({ stmts: [{ stmt: { ExplainStmt: {} } }] }), { access: 'read', tables: [] })
  t.match(classify({ stmts: [] }), { access: 'read', reason: 'empty query', statementKinds: [] })
  t.match(classify(null), { access: 'read', reason: 'empty query' })
})

t.test("the lexical path's reserved words are reserved in PostgreSQL 18", async (t) => {
  const kinds = new Set([...PG_RESERVED_WORDS].map((word) => scanSync(word).tokens[0]?.keywordName))
  t.same([...kinds].sort(), ['RESERVED_KEYWORD', 'TYPE_FUNC_NAME_KEYWORD'])
  t.equal(PG_RESERVED_WORDS.size, 78 + 23, 'all 78 reserved and 23 type/function-name keywords')
})

t.test('LruCache forgets the least recently used entry first', async (t) => {
  const cache = new LruCache<string, number>(2)
  cache.set('a', 1)
  cache.set('b', 2)
  t.equal(cache.get('a'), 1, 'a is now the most recently used')
  cache.set('c', 3)
  t.equal(cache.size, 2)
  t.equal(cache.get('b'), undefined, 'b was the least recently used')
  t.equal(cache.get('a'), 1)
  t.equal(cache.get('c'), 3)
  cache.set('a', 10)
  cache.set('d', 4)
  t.equal(cache.get('a'), 10, 'setting an entry again refreshes it')
  t.equal(cache.get('c'), undefined)
  t.equal(cache.hits, 4)
  t.equal(cache.misses, 2)
  cache.clear()
  t.equal(cache.size, 0)
  t.equal(cache.hits + cache.misses, 0)
})

t.test('LruCache needs room for at least one entry', async (t) => {
  t.throws(() => new LruCache(0), RangeError)
  t.throws(() => new LruCache(1.5), /at least one entry, got 1.5/)
  t.equal(new LruCache(1).maxEntries, 1)
})
