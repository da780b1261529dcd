import t from 'tap'
import { emptyPeers, greyNodeIdentity, rewriteSystemLocal } from '../../src/cql/grey-node-identity.js'
import { PreparedStatementRegistry } from '../../src/cql/prepared-registry.js'
import type { RowsResult } from '../../src/cql/protocol/response-messages.js'
import { makeScramVerifier } from '../../src/pg/auth/scram-verifier.js'
import { md5PasswordHash } from '../../src/pg/auth/md5-auth.js'
import { verifyPlainPassword } from '../../src/pg/auth/verify-plain-password.js'

const spec = (name: string, kind: 'varchar' | 'uuid' | 'inet' | 'int') => ({
  keyspace: 'system',
  table: 'local',
  name,
  type: { kind } as const,
})

t.test('system.local is rewritten by column name: Grey’s datacenter, host id, address, one token', async (t) => {
  const identity = greyNodeIdentity('grey-eu-west', 'eu-west', { host: '127.0.0.1', port: 9043 })
  t.equal(identity.hostId.length, 16)
  t.equal(identity.hostId[6]! >> 4, 5, 'a version 5 UUID')
  t.same(greyNodeIdentity('grey-eu-west', 'eu-west', { host: 'localhost', port: 1 }).hostId, identity.hostId, 'stable per instance')
  t.notSame(greyNodeIdentity('grey-us-east', 'us-east', { host: '127.0.0.1', port: 1 }).hostId, identity.hostId)
  const result: RowsResult = {
    type: 'RESULT',
    kind: 'Rows',
    metadata: {
      columnCount: 5,
      columns: [
        spec('data_center', 'varchar'),
        spec('release_version', 'varchar'),
        spec('host_id', 'uuid'),
        spec('rpc_address', 'inet'),
        { keyspace: 'system', table: 'local', name: 'tokens', type: { kind: 'set', element: { kind: 'varchar' } } },
      ],
    },
    rows: [[Buffer.from('dc1'), Buffer.from('5.0.9'), Buffer.alloc(16), Buffer.from([10, 0, 0, 1]), Buffer.from('00000002', 'hex')]],
  }
  const [row] = rewriteSystemLocal(result, identity).rows
  t.equal(row![0]!.toString(), 'eu-west')
  t.equal(row![1]!.toString(), '5.0.9', 'the backend’s version stays')
  t.same(row![2], identity.hostId)
  t.same(row![3], Buffer.from([127, 0, 0, 1]))
  t.same(row![4], Buffer.from('000000010000000130', 'hex'), 'a set<text> of one token, "0"')
  t.same(
    rewriteSystemLocal({ ...result, metadata: { columnCount: 5 } }, identity).rows,
    result.rows,
    'without column specs nothing is touched',
  )
  const peers = emptyPeers({ ...result, metadata: { ...result.metadata, pagingState: Buffer.from('x') } })
  t.same(peers.rows, [])
  t.equal(peers.metadata.pagingState, undefined)
})

t.test('prepared statements: remembered by id, the oldest forgotten beyond capacity', async (t) => {
  const registry = new PreparedStatementRegistry(2)
  registry.remember(Buffer.from('01', 'hex'), { query: 'SELECT 1', keyspace: 'a' })
  registry.remember(Buffer.from('02', 'hex'), { query: 'SELECT 2', keyspace: null })
  registry.remember(Buffer.from('01', 'hex'), { query: 'SELECT 1', keyspace: 'a' })
  registry.remember(Buffer.from('03', 'hex'), { query: 'SELECT 3', keyspace: null })
  t.equal(registry.size, 2)
  t.equal(registry.find(Buffer.from('02', 'hex')), undefined, 'the least recently prepared went')
  t.same(registry.find(Buffer.from('01', 'hex')), { query: 'SELECT 1', keyspace: 'a' })
})

t.test('a clear-text password checks against a SCRAM verifier, an md5 hash or trust', async (t) => {
  const scram = { method: 'scram-sha-256', verifier: makeScramVerifier('s3cret', { iterations: 64 }) } as const
  t.ok(verifyPlainPassword(scram, 'app', 's3cret'))
  t.notOk(verifyPlainPassword(scram, 'app', 'wrong'))
  const md5 = { method: 'md5', md5Hash: md5PasswordHash('pw', 'app') } as const
  t.ok(verifyPlainPassword(md5, 'app', 'pw'))
  t.notOk(verifyPlainPassword(md5, 'app', 'pw2'))
  t.ok(verifyPlainPassword({ method: 'md5', password: 'pw' }, 'app', 'pw'))
  t.ok(verifyPlainPassword({ method: 'trust' }, 'app', 'anything'))
})
