import t from 'tap'
import fc from 'fast-check'
import { classifyCql, MAX_CACHED_CQL_LENGTH, type CqlClassification } from '../../src/routing/classify-cql.js'
import { lexCql } from '../../src/routing/lex-cql.js'
import { LruCache } from '../../src/routing/lru-cache.js'

/**
 * One request text and what the classifier must say about it. `reason` is a substring; fields left out must
 * have their empty value (null, false, no hints).
 */
type Expected = Partial<Omit<CqlClassification, 'hints' | 'reason'>> & { readonly hints?: object; readonly reason?: string }
type Case = readonly [cql: string, expected: Expected]

const EMPTY: Omit<CqlClassification, 'kind' | 'access' | 'reason' | 'hints'> = {
  keyspace: null,
  table: null,
  useKeyspace: null,
  hasUsingTimestamp: false,
  lightweightTransaction: false,
  systemTable: null,
  schemaTable: false,
  batchType: null,
}

const select = (more: Expected = {}): Expected => ({ kind: 'select', access: 'read', ...more })
const write = (kind: CqlClassification['kind'], more: Expected = {}): Expected => ({ kind, access: 'write', ...more })
const other = (reason: string, more: Expected = {}): Expected => ({ kind: 'other', access: 'write', reason, ...more })
const LWT = { lightweightTransaction: true } as const
const STAMPED = { hasUsingTimestamp: true } as const
const STRONG = { hints: { consistency: 'strong' } } as const
const KS_T = { keyspace: 'ks', table: 't' } as const

const CASES: readonly Case[] = [
  // SELECT
  ['SELECT * FROM ks.t WHERE k = ?', select({ ...KS_T, reason: 'SELECT reads' })],
  ['select v from t where k = 1', select({ table: 't' })],
  ['SELECT * FROM Ks.Users', select({ keyspace: 'ks', table: 'users' })],
  ['SELECT * FROM "MyKs"."Users"', select({ keyspace: 'MyKs', table: 'Users' })],
  ['SELECT * FROM "odd""name"', select({ table: 'odd"name' })],
  ['SELECT "from", "where" FROM ks.t', select(KS_T)],
  ['SELECT JSON * FROM ks.t', select(KS_T)],
  ['SELECT DISTINCT k FROM ks.t', select(KS_T)],
  ['SELECT count(*) FROM ks.t WHERE k IN (1, 2) ALLOW FILTERING', select(KS_T)],
  ['SELECT CAST(v AS text), writetime(v), ttl(v) FROM ks.t', select(KS_T)],
  ['SELECT token(k) FROM ks.t WHERE token(k) > -9223372036854775808 PER PARTITION LIMIT 1 LIMIT 10', select(KS_T)],
  ["SELECT * FROM ks.t WHERE m CONTAINS KEY 'a' AND l CONTAINS 1", select(KS_T)],
  ['SELECT * FROM ks.t WHERE k = 1 ORDER BY v ANN OF [0.1, 0.2] LIMIT 3', select(KS_T)],
  ['SELECT * FROM ks.t WHERE id = 550e8400-e29b-41d4-a716-446655440000', select(KS_T)],
  ['SELECT * FROM ks.t WHERE id = a1b2c3d4-e29b-41d4-a716-446655440000 AND b = 0xCAFE AND d = 1h30m', select(KS_T)],
  ['SELECT * FROM ks.t WHERE x = 1.5e-10 AND y = -NaN', select(KS_T)],
  ['SELECT now()', select({})],
  ['SELECT * FROM', select({})],
  ['SELECT * FROM ks.', select({})],
  ['SELECT * FROM ks.view_by_email WHERE email = ?', select({ keyspace: 'ks', table: 'view_by_email' })],
  ['SELECT * FROM ks.t;', select(KS_T)],
  ['SELECT * FROM ks.t ;  ; ', select(KS_T)],

  // Peer and schema tables
  [
    "SELECT * FROM system.local WHERE key='local'",
    select({ keyspace: 'system', table: 'local', systemTable: 'local', reason: 'system.local is answered by the proxy' }),
  ],
  ['SELECT peer, rpc_address FROM system.peers', select({ keyspace: 'system', table: 'peers', systemTable: 'peers' })],
  ['SELECT * FROM system.peers_v2', select({ keyspace: 'system', table: 'peers_v2', systemTable: 'peers_v2' })],
  ['select * from SYSTEM.LOCAL', select({ keyspace: 'system', table: 'local', systemTable: 'local' })],
  ['SELECT * FROM "system"."peers"', select({ keyspace: 'system', table: 'peers', systemTable: 'peers' })],
  ['SELECT *\n  FROM\tsystem . local\n WHERE key = ?', select({ keyspace: 'system', table: 'local', systemTable: 'local' })],
  ['SELECT * FROM /* c */ system/* c */./* c */peers_v2', select({ keyspace: 'system', table: 'peers_v2', systemTable: 'peers_v2' })],
  ['SELECT * FROM "System"."local"', select({ keyspace: 'System', table: 'local' })],
  ['SELECT * FROM system.size_estimates', select({ keyspace: 'system', table: 'size_estimates' })],
  ['SELECT * FROM local', select({ table: 'local' })],
  [
    'SELECT * FROM system_schema.tables WHERE keyspace_name = ?',
    select({ keyspace: 'system_schema', table: 'tables', schemaTable: true, reason: 'system_schema' }),
  ],
  ['SELECT * FROM "system_schema".keyspaces', select({ keyspace: 'system_schema', table: 'keyspaces', schemaTable: true })],

  // INSERT
  ['INSERT INTO ks.t (k, v) VALUES (?, ?)', write('insert', { ...KS_T, reason: 'INSERT writes' })],
  ['insert into t (k, timestamp) values (1, 2)', write('insert', { table: 't' })],
  ['INSERT INTO ks.t JSON \'{"k": 1}\' DEFAULT UNSET', write('insert', KS_T)],
  ['INSERT INTO ks.t (k) VALUES (1) USING TTL 10', write('insert', KS_T)],
  ['INSERT INTO ks.t (k) VALUES (1) USING TIMESTAMP 1700000000000000', write('insert', { ...KS_T, ...STAMPED, reason: 'USING TIMESTAMP' })],
  ['INSERT INTO ks.t (k) VALUES (1) USING TTL 10 AND TIMESTAMP 123', write('insert', { ...KS_T, ...STAMPED })],
  ['INSERT INTO ks.t (k) VALUES (1) USING TTL ? AND TIMESTAMP ?', write('insert', { ...KS_T, ...STAMPED })],
  ['INSERT INTO ks.t (k) VALUES (1) using timestamp :ts and ttl :ttl', write('insert', { ...KS_T, ...STAMPED })],
  ['INSERT INTO ks.t (k) VALUES (1) USING TIMESTAMP -5', write('insert', { ...KS_T, ...STAMPED })],
  ['INSERT INTO ks.t (k) VALUES (1) USING TIMESTAMP', write('insert', KS_T)],
  ["INSERT INTO ks.t (k, v) VALUES (1, 'USING TIMESTAMP 5')", write('insert', KS_T)],
  ['INSERT INTO ks.t (k, "timestamp") VALUES (1, 2) USING TTL 5', write('insert', KS_T)],
  [
    'INSERT INTO ks.t (k) VALUES (1) IF NOT EXISTS',
    write('insert', { ...KS_T, ...LWT, reason: 'INSERT … IF NOT EXISTS is a lightweight transaction' }),
  ],
  ['INSERT INTO ks.t (k) VALUES (1) IF NOT EXISTS USING TIMESTAMP 9', write('insert', { ...KS_T, ...LWT, ...STAMPED })],
  ["INSERT INTO ks.t (k, v) VALUES (1, 'IF NOT EXISTS')", write('insert', KS_T)],
  ['INSERT INTO ks.t (k, v) VALUES (1, $$ IF NOT EXISTS $$)', write('insert', KS_T)],
  ["INSERT INTO ks.t (k, m) VALUES (1, {'a': [1, 2], 'b': {3}})", write('insert', KS_T)],
  ['INSERT INTO "Ks"."T" (k) VALUES (1)', write('insert', { keyspace: 'Ks', table: 'T' })],

  // UPDATE
  ['UPDATE ks.t SET v = 1 WHERE k = 2', write('update', { ...KS_T, reason: 'UPDATE writes' })],
  ['UPDATE ks.t USING TTL 5 SET timestamp = 3 WHERE k = 2', write('update', KS_T)],
  ['UPDATE ks.t USING TIMESTAMP 5 SET v = 3 WHERE k = 2', write('update', { ...KS_T, ...STAMPED })],
  ['UPDATE ks.t USING TTL 10 AND TIMESTAMP 123 SET v = 3 WHERE k = 2', write('update', { ...KS_T, ...STAMPED })],
  ['UPDATE ks.t SET v = 3 WHERE k = 2 IF EXISTS', write('update', { ...KS_T, ...LWT, reason: 'UPDATE … IF is a lightweight transaction' })],
  ['UPDATE ks.t SET v = 3 WHERE k = 2 IF v = 2 AND w IN (1, 2)', write('update', { ...KS_T, ...LWT })],
  ["UPDATE ks.t SET m = m + {'if': 1}, l[0] = 2 WHERE k = 2", write('update', KS_T)],
  ['UPDATE ks.counters SET c = c + 1 WHERE k = ?', write('update', { keyspace: 'ks', table: 'counters' })],

  // DELETE
  ['DELETE FROM ks.t WHERE k = 1', write('delete', { ...KS_T, reason: 'DELETE writes' })],
  ["DELETE v, m['a'], l[1] FROM ks.t WHERE k = 1", write('delete', KS_T)],
  ['DELETE FROM ks.t USING TIMESTAMP 42 WHERE k = 1', write('delete', { ...KS_T, ...STAMPED })],
  ['DELETE FROM ks.t WHERE k = 1 IF EXISTS', write('delete', { ...KS_T, ...LWT, reason: 'DELETE … IF is a lightweight transaction' })],
  ['DELETE v FROM ks.t WHERE k = 1 IF v = 3', write('delete', { ...KS_T, ...LWT })],
  ['DELETE', write('delete', {})],

  // Batches
  [
    'BEGIN BATCH INSERT INTO ks.t (k) VALUES (1); UPDATE ks.t SET v = 2 WHERE k = 1; APPLY BATCH',
    write('batch', { ...KS_T, batchType: 'logged', reason: 'BEGIN BATCH of 2 statements writes' }),
  ],
  [
    'BEGIN UNLOGGED BATCH INSERT INTO ks.a (k) VALUES (1) INSERT INTO ks.b (k) VALUES (2) APPLY BATCH;',
    write('batch', { keyspace: 'ks', batchType: 'unlogged', reason: 'BEGIN UNLOGGED BATCH of 2 statements' }),
  ],
  [
    'BEGIN COUNTER BATCH UPDATE ks.c SET n = n + 1 WHERE k = 1; UPDATE ks.c SET n = n - 1 WHERE k = 2; APPLY BATCH',
    write('batch', { keyspace: 'ks', table: 'c', batchType: 'counter', reason: 'BEGIN COUNTER BATCH of 2 statements' }),
  ],
  [
    'BEGIN BATCH USING TIMESTAMP 1700000000000000 INSERT INTO ks.t (k) VALUES (1); DELETE FROM ks.t WHERE k = 2; APPLY BATCH',
    write('batch', { ...KS_T, batchType: 'logged', ...STAMPED }),
  ],
  [
    'begin unlogged batch using timestamp ? insert into a (k) values (1); apply batch',
    write('batch', { table: 'a', batchType: 'unlogged', ...STAMPED, reason: 'of 1 statement writes, with its own timestamp' }),
  ],
  [
    'BEGIN BATCH INSERT INTO ks.t (k) VALUES (1) USING TTL 10 AND TIMESTAMP 123; INSERT INTO ks.u (k) VALUES (2); APPLY BATCH',
    write('batch', { keyspace: 'ks', batchType: 'logged', ...STAMPED }),
  ],
  [
    'BEGIN BATCH INSERT INTO ks.t (k) VALUES (1) USING TTL 10; INSERT INTO other.t (k) VALUES (2); APPLY BATCH',
    write('batch', { batchType: 'logged' }),
  ],
  [
    'BEGIN BATCH INSERT INTO ks.t (k, c) VALUES (1, 1) IF NOT EXISTS; UPDATE ks.t SET v = 1 WHERE k = 1 AND c = 2 IF v = 0; APPLY BATCH',
    write('batch', { ...KS_T, batchType: 'logged', ...LWT, reason: 'with a condition is a lightweight transaction' }),
  ],
  ["BEGIN BATCH INSERT INTO ks.t (k, v) VALUES (1, '; APPLY BATCH') APPLY BATCH", write('batch', { ...KS_T, batchType: 'logged' })],
  ['BEGIN BATCH APPLY BATCH', write('batch', { batchType: 'logged', reason: 'of 0 statements' })],
  ['BEGIN BATCH INSERT INTO ks.t (k) VALUES (1)', write('batch', { ...KS_T, batchType: 'logged' })],
  ['BEGIN BATCH INSERT INTO ks.t (k) VALUES (1); APPLY BATCH; SELECT * FROM ks.t', other('more than one statement')],
  ['BEGIN TRANSACTION', other('BEGIN without BATCH')],

  // USE
  ['USE ks', { kind: 'use', access: 'read', keyspace: 'ks', useKeyspace: 'ks', reason: 'USE sets the keyspace' }],
  ['use "MyKeyspace";', { kind: 'use', access: 'read', keyspace: 'MyKeyspace', useKeyspace: 'MyKeyspace' }],
  ['USE', other('USE takes one keyspace name')],
  ['USE a b', other('USE takes one keyspace name')],

  // DDL
  [
    "CREATE KEYSPACE IF NOT EXISTS app WITH replication = {'class': 'NetworkTopologyStrategy', 'us-east': 3}",
    write('ddl', { keyspace: 'app', reason: 'CREATE KEYSPACE changes the schema' }),
  ],
  ['CREATE SCHEMA app2 WITH durable_writes = true', write('ddl', { keyspace: 'app2' })],
  ['ALTER KEYSPACE app WITH durable_writes = false', write('ddl', { keyspace: 'app' })],
  ['DROP KEYSPACE IF EXISTS app', write('ddl', { keyspace: 'app', reason: 'DROP KEYSPACE' })],
  [
    'CREATE TABLE IF NOT EXISTS ks.t (k int PRIMARY KEY, v text, m frozen<map<text, int>>)',
    write('ddl', { ...KS_T, reason: 'CREATE TABLE changes the schema' }),
  ],
  ['CREATE TABLE "Ks"."T" (k int PRIMARY KEY)', write('ddl', { keyspace: 'Ks', table: 'T' })],
  ['CREATE COLUMNFAMILY t (k int PRIMARY KEY)', write('ddl', { table: 't' })],
  ['ALTER TABLE ks.t ADD w int', write('ddl', KS_T)],
  ['DROP TABLE ks.t', write('ddl', KS_T)],
  ['TRUNCATE ks.t', write('ddl', { ...KS_T, reason: 'TRUNCATE removes every row' })],
  ['TRUNCATE TABLE t', write('ddl', { table: 't' })],
  ['CREATE TYPE IF NOT EXISTS ks.address (street text, city text)', write('ddl', { keyspace: 'ks', reason: 'CREATE TYPE' })],
  ['ALTER TYPE address ADD zip text', write('ddl', {})],
  ['DROP TYPE ks.address', write('ddl', { keyspace: 'ks' })],
  ['CREATE INDEX IF NOT EXISTS t_v ON ks.t (v)', write('ddl', { ...KS_T, reason: 'CREATE INDEX' })],
  ['CREATE INDEX ON ks.t (keys(m))', write('ddl', KS_T)],
  ["CREATE CUSTOM INDEX t_v_sai ON ks.t (v) USING 'StorageAttachedIndex'", write('ddl', { ...KS_T, reason: 'CREATE CUSTOM INDEX' })],
  ['DROP INDEX ks.t_v', write('ddl', { keyspace: 'ks' })],
  [
    'CREATE MATERIALIZED VIEW IF NOT EXISTS ks.t_by_v AS SELECT * FROM ks.t WHERE v IS NOT NULL AND k IS NOT NULL PRIMARY KEY (v, k)',
    write('ddl', { keyspace: 'ks', table: 't_by_v', reason: 'CREATE MATERIALIZED VIEW changes the schema' }),
  ],
  ["ALTER MATERIALIZED VIEW ks.t_by_v WITH comment = 'x'", write('ddl', { keyspace: 'ks', table: 't_by_v' })],
  ['DROP MATERIALIZED VIEW IF EXISTS ks.t_by_v', write('ddl', { keyspace: 'ks', table: 't_by_v' })],
  [
    'CREATE OR REPLACE FUNCTION ks.twice (x int) CALLED ON NULL INPUT RETURNS int LANGUAGE java AS $$ return x * 2; $$',
    write('ddl', { keyspace: 'ks', reason: 'CREATE FUNCTION' }),
  ],
  ['CREATE AGGREGATE IF NOT EXISTS ks.total (int) SFUNC plus STYPE int INITCOND 0', write('ddl', { keyspace: 'ks' })],
  ['DROP FUNCTION ks.twice (int)', write('ddl', { keyspace: 'ks' })],
  ['DROP AGGREGATE IF EXISTS ks.total', write('ddl', { keyspace: 'ks' })],
  ["CREATE TRIGGER audit ON ks.t USING 'org.example.Audit'", write('ddl', { ...KS_T, reason: 'CREATE TRIGGER' })],
  ['DROP TRIGGER IF EXISTS audit ON ks.t', write('ddl', KS_T)],
  ["CREATE ROLE IF NOT EXISTS app WITH PASSWORD = 'x' AND LOGIN = true", write('ddl', { reason: 'CREATE ROLE changes roles' })],
  ["ALTER USER app WITH PASSWORD 'y'", write('ddl', { reason: 'ALTER USER changes roles' })],
  ['DROP ROLE app', write('ddl', {})],
  ['CREATE KEYSPACE', write('ddl', {})],
  ['CREATE INDEX idx', write('ddl', {})],
  ['DROP TABLE IF EXISTS', write('ddl', {})],
  ['TRUNCATE', write('ddl', {})],
  ['DROP TABLE system_schema.tables', write('ddl', { keyspace: 'system_schema', table: 'tables', schemaTable: true })],
  ['CREATE WIDGET w', other('CREATE of something Grey does not know')],
  ['CREATE CUSTOM TABLE t (k int PRIMARY KEY)', other('CREATE of something')],

  // DCL
  ['GRANT SELECT ON KEYSPACE ks TO app', write('dcl', { reason: 'GRANT changes permissions' })],
  ['REVOKE MODIFY ON ks.t FROM app', write('dcl', { reason: 'REVOKE' })],
  ['GRANT admin TO alice', write('dcl', {})],
  ['LIST ROLES', write('dcl', { reason: 'LIST reads roles or permissions' })],
  ['LIST ALL PERMISSIONS OF app NORECURSIVE', write('dcl', {})],
  ["ADD IDENTITY 'spiffe://example/app' TO ROLE 'app'", write('dcl', { reason: 'ADD IDENTITY' })],
  ["DROP IDENTITY 'spiffe://example/app'", write('dcl', { reason: 'DROP IDENTITY' })],

  // Hints and comments in several positions
  ['/* grey: consistency=strong */ SELECT * FROM ks.t', select({ ...KS_T, ...STRONG })],
  ['SELECT * FROM ks.t /* grey: consistency=strong */', select({ ...KS_T, ...STRONG })],
  ['SELECT * /* grey: consistency=strong */ FROM ks.t', select({ ...KS_T, ...STRONG })],
  ['SELECT * FROM ks.t -- grey: consistency=eventual', select({ ...KS_T, hints: { consistency: 'eventual' } })],
  ['SELECT * FROM ks.t // grey: max_staleness=2s', select({ ...KS_T, hints: { consistency: 'bounded', maxStalenessMs: 2000 } })],
  ['// grey: consistency=strong\nSELECT * FROM ks.t', select({ ...KS_T, ...STRONG })],
  ['-- grey: route=primary\r\nSELECT * FROM ks.t', select({ ...KS_T, hints: { route: 'primary' } })],
  ['INSERT INTO ks.t (k) VALUES (1) /* grey: queue */', write('insert', { ...KS_T, hints: { queue: true } })],
  [
    'BEGIN BATCH /* grey: consistency=strong */ INSERT INTO ks.t (k) VALUES (1); APPLY BATCH',
    write('batch', { ...KS_T, batchType: 'logged', ...STRONG }),
  ],
  [
    '/* grey: consitency=strong */ SELECT * FROM ks.t',
    select({
      ...KS_T,
      hints: {
        problems: [
          'unknown grey hint "consitency" (did you mean consistency?); known hints: consistency, max_staleness, after, key, queue, route',
        ],
      },
    }),
  ],
  ["SELECT * FROM ks.t WHERE v = '/* grey: consistency=strong */'", select(KS_T)],
  ["SELECT * FROM ks.t WHERE v = '-- grey: consistency=strong'", select(KS_T)],
  ['SELECT * FROM ks.t WHERE v = $$ // grey: consistency=strong $$', select(KS_T)],
  ['SELECT "-- grey: consistency=strong" FROM ks.t', select(KS_T)],
  ['/* a /* b */ SELECT * FROM ks.t', select(KS_T)],
  ['/* the comment -- ends here */ INSERT INTO ks.t (k) VALUES (1) IF NOT EXISTS', write('insert', { ...KS_T, ...LWT })],
  ["SELECT * FROM ks.t WHERE v = 'it''s' /* grey: consistency=strong */", select({ ...KS_T, ...STRONG })],

  // Other statements and garbage
  ['DESCRIBE KEYSPACES', { kind: 'other', access: 'read', reason: 'DESCRIBE reads the schema' }],
  ['DESC TABLE ks.t', { kind: 'other', access: 'read', reason: 'DESCRIBE' }],
  ['', other('empty request; routed as a write')],
  ['   ;  ', other('empty request')],
  ['/* grey: consistency=strong */', other('empty request', STRONG)],
  ['SELECT 1 FROM ks.t; DELETE FROM ks.t WHERE k = 1', other('more than one statement')],
  ['EXPLAIN SELECT * FROM t', other('EXPLAIN is not a CQL statement Grey knows')],
  ['ADD 1', other('ADD is not a CQL statement')],
  ['🙂 SELECT', other('not a CQL statement; routed as a write')],
  ['(((', other('not a CQL statement')],
  ["SELECT * FROM ks.t WHERE v = 'unterminated", other('is not closed')],
  ['SELECT * FROM "unterminated', other('is not closed')],
  ['SELECT * FROM ks.t /* grey: consistency=strong', other('is not closed', STRONG)],
  ['SELECT * FROM ks.t WHERE v = $$ never closed', other('is not closed')],
  ['\u0000\u0001\uffff', other('not a CQL statement')],
  ['DELETE FROM ks.t WHERE k = 1 ) ) ] } IF EXISTS', write('delete', { ...KS_T, ...LWT })],
]

t.ok(CASES.length >= 80, `${CASES.length} statements`)

for (const [cql, expected] of CASES) {
  const { hints: expectedHints, reason, ...fields } = expected
  const c = classifyCql(cql, new LruCache(10))
  t.same({ kind: c.kind, access: c.access, ...pick(c) }, { ...EMPTY, ...fields }, `${JSON.stringify(cql)}: ${c.reason}`)
  t.same(c.hints, { problems: [], ...expectedHints }, `${JSON.stringify(cql)}: hints`)
  if (reason !== undefined) t.match(c.reason, reason, `${JSON.stringify(cql)}: reason`)
}

function pick(c: CqlClassification): typeof EMPTY {
  const { kind: _kind, access: _access, reason: _reason, hints: _hints, ...rest } = c
  return rest
}

t.test('the cache answers a repeated text with the same frozen object', async (t) => {
  const cache = new LruCache<string, CqlClassification>(2)
  const first = classifyCql('SELECT * FROM ks.t /* grey: consistency=strong */', cache)
  t.equal(classifyCql('SELECT * FROM ks.t /* grey: consistency=strong */', cache), first)
  t.equal(cache.hits, 1)
  t.ok(Object.isFrozen(first) && Object.isFrozen(first.hints) && Object.isFrozen(first.hints.problems))
  t.not(classifyCql('SELECT * FROM ks.t', cache), first, 'another text, another entry (hints differ)')
  const long = `INSERT INTO ks.t (k, v) VALUES (1, '${'x'.repeat(MAX_CACHED_CQL_LENGTH)}')`
  classifyCql(long, cache)
  t.equal(cache.size, 2, 'a text longer than the limit is not cached')
  t.equal(classifyCql('SELECT * FROM ks.t').kind, 'select', 'the shared cache by default')
})

t.test('the lexer', async (t) => {
  t.same(
    lexCql('SELECT \'a\'\'b\', "C""d", $$x$$, 1.5e-3, 0xFF, 550e8400-e29b-41d4-a716-446655440000, 1h2m, :n, ?').tokens.map((x) => x.kind),
    [
      'word',
      'string',
      'punct',
      'quoted',
      'punct',
      'string',
      'punct',
      'constant',
      'punct',
      'constant',
      'punct',
      'constant',
      'punct',
      'constant',
      'punct',
      'punct',
      'word',
      'punct',
      'punct',
    ],
  )
  t.same(lexCql('a -- one\nb // two\rc /* three */ d').comments, [' one', ' two', ' three '])
  t.same(lexCql('a /* open').comments, [' open'])
  t.equal(lexCql('a /* open').complete, false)
  t.same(
    lexCql('deadbeef-dead-beef-dead-beefdeadbeef deadbeef-dead-beef-dead-beefdeadbeefx').tokens.map((x) => x.kind),
    ['constant', 'word', 'punct', 'word', 'punct', 'word', 'punct', 'word', 'punct', 'word'],
    'a UUID is one constant; followed by a letter it is not a UUID',
  )
})

t.test('any text classifies without throwing; unknown text is a write', async () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      const c = classifyCql(text, new LruCache(1))
      return typeof c.reason === 'string' && (c.kind !== 'other' || c.access === 'write' || c.reason.startsWith('DESCRIBE'))
    }),
  )
  const words = fc.constantFrom(
    'SELECT',
    'INSERT',
    'UPDATE',
    'DELETE',
    'BEGIN',
    'BATCH',
    'APPLY',
    'FROM',
    'INTO',
    'USING',
    'TIMESTAMP',
    'TTL',
    'AND',
    'IF',
    'NOT',
    'EXISTS',
    'ks',
    '.',
    't',
    '(',
    ')',
    ';',
    "'s'",
    '"Q"',
    '1',
    '?',
    ':',
    '/*',
    '*/',
    '--',
    '\n',
    'system',
    'local',
  )
  fc.assert(
    fc.property(fc.array(words, { maxLength: 30 }), (parts) => {
      const c = classifyCql(parts.join(' '), new LruCache(1))
      return c.access === 'write' || c.kind === 'select' || c.kind === 'use' || c.reason.startsWith('DESCRIBE')
    }),
  )
})
