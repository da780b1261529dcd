import t from 'tap'
import type { AffinityRule } from '../../src/config/config-schema.js'
import { affinityHome, findColumnValue, keyMatches, placeKey } from '../../src/routing/affinity-home.js'
import { boundValueText } from '../../src/cql/bound-value-text.js'

t.test('findColumnValue: WHERE column = value, or the column of an INSERT', async (t) => {
  t.same(findColumnValue('SELECT * FROM users WHERE user_id = 123', 'user_id'), { literal: '123' })
  t.same(findColumnValue("SELECT * FROM users WHERE a = ? AND user_id = 'it''s'", 'user_id'), { literal: "it's" })
  t.same(findColumnValue('SELECT * FROM users WHERE a = ? AND USER_ID = ?', 'user_id'), { marker: 1 }, 'the second marker')
  t.same(findColumnValue('SELECT * FROM users WHERE "UserId" = 5', '"UserId"'), { literal: '5' }, 'a quoted column keeps its case')
  t.same(findColumnValue('SELECT * FROM users WHERE "UserId" = 5', 'userid'), null)
  t.same(findColumnValue('SELECT * FROM users WHERE user_id = $$a b$$', 'user_id'), { literal: 'a b' })
  t.same(findColumnValue('UPDATE users SET v = ? WHERE user_id = ?', 'user_id'), { marker: 1 })
  t.same(findColumnValue('INSERT INTO users (name, user_id) VALUES (?, 42)', 'user_id'), { literal: '42' })
  t.same(findColumnValue('INSERT INTO users (name, user_id) VALUES (?, ?)', 'user_id'), { marker: 1 })
  t.same(findColumnValue('INSERT INTO users (name) VALUES (?)', 'user_id'), null, 'not among the columns')
  t.same(findColumnValue('INSERT INTO users JSON ?', 'user_id'), null, 'JSON inserts say no column')
  t.same(findColumnValue('SELECT * FROM users WHERE user_id IN (1, 2)', 'user_id'), null, 'an IN list names no single row')
  t.same(findColumnValue('SELECT * FROM users WHERE user_id = now()', 'user_id'), null)
  t.same(findColumnValue('SELECT * FROM users', 'user_id'), null)
})

t.test('keyMatches and placeKey', async (t) => {
  t.ok(keyMatches('user:*', 'user:123'))
  t.ok(keyMatches('user:*', 'user:'))
  t.notOk(keyMatches('user:*', 'order:1'))
  t.ok(keyMatches('exact', 'exact'))
  t.notOk(keyMatches('exact', 'exactly'))
  t.ok(keyMatches('a*z', 'abcz'))
  t.notOk(keyMatches('ab*ba', 'aba'), 'prefix and suffix may not overlap')
  t.equal(placeKey('user:1', 'eu-west', ['us-east', 'eu-west']), 'eu-west', 'a configured region')
  const regions = ['us-east', 'eu-west', 'ap-south']
  const homes = new Map<string, number>()
  let orderMatters = 0
  for (let i = 0; i < 3000; i++) {
    const home = placeKey(`user:${i}`, 'hash', regions)
    homes.set(home, (homes.get(home) ?? 0) + 1)
    if (placeKey(`user:${i}`, 'hash', [...regions].reverse()) !== home) orderMatters++
  }
  t.equal(orderMatters, 0, 'the same home whatever order the regions come in')
  t.same([...homes.keys()].sort(), [...regions].sort(), 'hash spreads keys over every region')
  for (const n of homes.values()) t.ok(n > 800 && n < 1200, `a fair share: ${n} of 3000`)
})

const rules: AffinityRule[] = [
  { key: 'user:*', tables: ['users', 'app.profiles'], column: 'user_id', placement: 'hash' },
  { key: 'tenant:*', tables: ['tenants'], placement: 'ap-south' },
]
const REGIONS = ['us-east', 'eu-west', 'ap-south']
const none = (): string | null => null

t.test('affinityHome: the first rule for the table that finds a key', async (t) => {
  const home = affinityHome(rules, REGIONS, {
    table: 'users',
    keyspace: null,
    hintKey: undefined,
    query: 'SELECT * FROM users WHERE user_id = 7',
    bound: none,
  })
  t.same(home, { key: 'user:7', region: placeKey('user:7', 'hash', REGIONS), rule: 0 })
  t.same(
    affinityHome(rules, REGIONS, {
      table: 'users',
      keyspace: null,
      hintKey: 'user:9',
      query: 'SELECT * FROM users WHERE user_id = 7',
      bound: none,
    })?.key,
    'user:9',
    'the hint beats the column',
  )
  t.same(
    affinityHome(rules, REGIONS, {
      table: 'users',
      keyspace: null,
      hintKey: undefined,
      query: 'SELECT * FROM users WHERE user_id = ?',
      bound: (i) => (i === 0 ? '11' : null),
    })?.key,
    'user:11',
    'a bound value',
  )
  t.equal(
    affinityHome(rules, REGIONS, {
      table: 'users',
      keyspace: null,
      hintKey: undefined,
      query: 'SELECT * FROM users WHERE user_id = ?',
      bound: none,
    }),
    null,
    'an unknown bound value',
  )
  t.equal(
    affinityHome(rules, REGIONS, { table: 'profiles', keyspace: null, hintKey: 'user:1', query: '', bound: none }),
    null,
    'app.profiles needs its keyspace named',
  )
  t.equal(affinityHome(rules, REGIONS, { table: 'profiles', keyspace: 'app', hintKey: 'user:1', query: '', bound: none })?.rule, 0)
  t.same(affinityHome(rules, REGIONS, { table: 'tenants', keyspace: null, hintKey: 'tenant:acme', query: '', bound: none }), {
    key: 'tenant:acme',
    region: 'ap-south',
    rule: 1,
  })
  t.equal(
    affinityHome(rules, REGIONS, { table: 'tenants', keyspace: null, hintKey: 'user:1', query: '', bound: none }),
    null,
    "a key of another rule's pattern",
  )
  t.equal(
    affinityHome(rules, REGIONS, {
      table: 'tenants',
      keyspace: null,
      hintKey: undefined,
      query: 'SELECT * FROM tenants WHERE id = 1',
      bound: none,
    }),
    null,
    'no column, no hint',
  )
  t.equal(affinityHome(rules, REGIONS, { table: null, keyspace: null, hintKey: 'user:1', query: '', bound: none }), null, 'no table')
  t.equal(
    affinityHome(rules, REGIONS, { table: 'orders', keyspace: null, hintKey: 'user:1', query: '', bound: none }),
    null,
    'no rule for the table',
  )
})

t.test('boundValueText: text, integers and UUIDs by their type', async (t) => {
  const int = Buffer.alloc(4)
  int.writeInt32BE(-7)
  const big = Buffer.alloc(8)
  big.writeBigInt64BE(123n)
  const small = Buffer.alloc(2)
  small.writeInt16BE(300)
  t.equal(boundValueText(Buffer.from('alice'), { kind: 'varchar' }), 'alice')
  t.equal(boundValueText(Buffer.from('bob'), { kind: 'ascii' }), 'bob')
  t.equal(boundValueText(int, { kind: 'int' }), '-7')
  t.equal(boundValueText(big, { kind: 'bigint' }), '123')
  t.equal(boundValueText(small, { kind: 'smallint' }), '300')
  t.equal(boundValueText(Buffer.from([0xff]), { kind: 'tinyint' }), '-1')
  t.equal(boundValueText(Buffer.from('123e4567e89b12d3a456426614174000', 'hex'), { kind: 'uuid' }), '123e4567-e89b-12d3-a456-426614174000')
  t.equal(
    boundValueText(Buffer.from('123e4567e89b12d3a456426614174000', 'hex'), { kind: 'timeuuid' }),
    '123e4567-e89b-12d3-a456-426614174000',
  )
  t.equal(boundValueText(Buffer.from([1, 2]), { kind: 'int' }), null, 'a wrong length')
  t.equal(boundValueText(Buffer.from([1, 2]), { kind: 'bigint' }), null)
  t.equal(boundValueText(Buffer.from([1]), { kind: 'smallint' }), null)
  t.equal(boundValueText(Buffer.from([1, 2]), { kind: 'tinyint' }), null)
  t.equal(boundValueText(Buffer.from([1, 2]), { kind: 'uuid' }), null)
  t.equal(boundValueText(Buffer.from([1]), { kind: 'boolean' }), null, 'other types')
  t.equal(boundValueText(null, { kind: 'int' }), null)
  t.equal(boundValueText(Buffer.from('x'), undefined), null, 'an unknown type')
})
