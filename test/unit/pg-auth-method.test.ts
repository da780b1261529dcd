import t from 'tap'
import { chooseAuth, isLoopbackAddress, type ClientAuthConfig, type ClientAuthMethod } from '../../src/pg/auth/auth-method.js'
import { isMd5PasswordHash } from '../../src/pg/auth/md5-auth.js'
import { makeScramVerifier, mockScramVerifier } from '../../src/pg/auth/scram-verifier.js'

const SECRET = Buffer.alloc(32, 9)
const verifier = makeScramVerifier('pw', { iterations: 1, salt: Buffer.from('salt') })
const users = new Map<string, ClientAuthMethod>([
  ['scram', { method: 'scram-sha-256', verifier }],
  ['md5hash', { method: 'md5', md5Hash: 'md5' + 'a'.repeat(32) }],
  ['md5plain', { method: 'md5', password: 'pw' }],
  ['local', { method: 'trust' }],
])
const config: ClientAuthConfig = { users, mockAuthSecret: SECRET }

t.test('configured users get their method', async (t) => {
  t.match(chooseAuth('scram', config, false), { method: 'scram-sha-256', verifier, doomed: false })
  t.match(chooseAuth('md5hash', config, false), { method: 'md5', secret: { md5Hash: 'md5' + 'a'.repeat(32) }, doomed: false })
  t.match(chooseAuth('md5plain', config, true), { method: 'md5', secret: { password: 'pw' }, doomed: false })
  t.match(chooseAuth('local', config, true), { method: 'trust', reason: 'trust configured and the peer is loopback' })
})

t.test('trust only from loopback; otherwise a doomed exchange like an unknown user', async (t) => {
  const remote = chooseAuth('local', config, false)
  t.match(remote, { method: 'scram-sha-256', doomed: true, reason: /not loopback/ })
  t.match(chooseAuth('Local', config, true), { method: 'scram-sha-256', doomed: true, reason: /no such user/ }, 'names are case-sensitive')
})

t.test('unknown users get a deterministic mock of the default method', async (t) => {
  const a = chooseAuth('nobody', config, true)
  t.match(a, { method: 'scram-sha-256', doomed: true })
  if (a.method === 'scram-sha-256') t.same(a.verifier, mockScramVerifier('nobody', SECRET, 4096))
  const fewer = chooseAuth('nobody', { ...config, mockIterations: 10_000 }, true)
  t.equal(fewer.method === 'scram-sha-256' && fewer.verifier.iterations, 10_000, 'mock iteration count follows the config')

  const md5 = chooseAuth('nobody', { ...config, unknownUserMethod: 'md5' }, true)
  t.match(md5, { method: 'md5', doomed: true })
  if (md5.method === 'md5' && 'md5Hash' in md5.secret) t.ok(isMd5PasswordHash(md5.secret.md5Hash), 'a well-formed mock md5 hash')
  t.same(chooseAuth('nobody', { ...config, unknownUserMethod: 'md5' }, true), md5, 'deterministic')
})

t.test('isLoopbackAddress', async (t) => {
  const cases: Array<[string | undefined, boolean]> = [
    ['127.0.0.1', true],
    ['127.255.0.9', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['::FFFF:127.0.0.2', true],
    ['10.0.0.1', false],
    ['128.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    ['::2', false],
    ['1::1', false],
    ['fe80::1', false],
    ['localhost', false],
    ['', false],
    [undefined, false],
  ]
  for (const [address, expected] of cases) t.equal(isLoopbackAddress(address), expected, String(address))
})
