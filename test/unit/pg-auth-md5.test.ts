import t from 'tap'
import fc from 'fast-check'
import { createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { isMd5PasswordHash, md5PasswordHash, md5SaltedResponse, verifyMd5Response } from '../../src/pg/auth/md5-auth.js'

// node-postgres' own md5 answer (what pg.Client sends), used only here to cross-check.
const require = createRequire(import.meta.url)
const pgCrypto = require('pg/lib/crypto/utils.js') as {
  postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string>
}

const SALT = Buffer.from([1, 2, 3, 4])

t.test('known vector: user postgres, password secret, salt 01020304', async (t) => {
  // Computed independently (Python hashlib) with PostgreSQL's formula.
  t.equal(md5PasswordHash('secret', 'postgres'), 'md553f48b7c4b76a86ce72276c5755f217d')
  t.equal(md5SaltedResponse({ password: 'secret' }, 'postgres', SALT), 'md5bb41a296aab6baccb36ff243a562abff')
  t.equal(md5SaltedResponse({ md5Hash: 'md553f48b7c4b76a86ce72276c5755f217d' }, 'postgres', SALT), 'md5bb41a296aab6baccb36ff243a562abff')
  t.equal(await pgCrypto.postgresMd5PasswordHash('postgres', 'secret', SALT), 'md5bb41a296aab6baccb36ff243a562abff', 'node-postgres agrees')

  const formula = (password: string, user: string, salt: Buffer): string => {
    const inner = createHash('md5')
      .update(password + user)
      .digest('hex')
    return (
      'md5' +
      createHash('md5')
        .update(Buffer.concat([Buffer.from(inner), salt]))
        .digest('hex')
    )
  }
  t.equal(md5SaltedResponse({ password: 'pä55wörd' }, 'jörg', SALT), formula('pä55wörd', 'jörg', SALT))
})

t.test('matches node-postgres for random users, passwords and salts (property)', async (t) => {
  await fc.assert(
    fc.asyncProperty(
      fc.string({ minLength: 1, maxLength: 20 }),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }),
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      async (user, password, salt) => {
        const ours = md5SaltedResponse({ password }, user, salt)
        const theirs = await pgCrypto.postgresMd5PasswordHash(user, password, Buffer.from(salt))
        const fromHash = md5SaltedResponse({ md5Hash: md5PasswordHash(password, user) }, user, salt)
        return ours === theirs && fromHash === theirs
      },
    ),
  )
  t.pass('agreed')
})

t.test('verifyMd5Response', async (t) => {
  const salt = randomBytes(4)
  const secret = { md5Hash: md5PasswordHash('secret', 'alice') }
  const right = await pgCrypto.postgresMd5PasswordHash('alice', 'secret', salt)
  t.same(verifyMd5Response({ secret, user: 'alice', salt, response: right }), { ok: true })
  t.same(verifyMd5Response({ secret: { password: 'secret' }, user: 'alice', salt, response: Buffer.from(right) }), { ok: true })

  const wrong = verifyMd5Response({
    secret,
    user: 'alice',
    salt,
    response: await pgCrypto.postgresMd5PasswordHash('alice', 'Secret', salt),
  })
  const unknown = verifyMd5Response({ secret: { md5Hash: 'md5' + '0'.repeat(32) }, user: 'alice', salt, response: right, doomed: true })
  const doomedButRight = verifyMd5Response({ secret, user: 'alice', salt, response: right, doomed: true })
  const otherSalt = verifyMd5Response({ secret, user: 'alice', salt: Buffer.from([9, 9, 9, 9]), response: right })
  const garbage = verifyMd5Response({ secret, user: 'alice', salt, response: 'md5' })
  const plaintext = verifyMd5Response({ secret, user: 'alice', salt, response: 'secret' })
  const expected = { severity: 'FATAL', sqlstate: '28P01', message: 'password authentication failed for user "alice"' }
  for (const [name, result] of Object.entries({ wrong, unknown, doomedButRight, otherSalt, garbage, plaintext })) {
    t.equal(result.ok, false, name)
    if (!result.ok) {
      t.same(result.failure.error, expected, `${name}: the same 28P01 error`)
      t.equal(result.failure.reason, 'authentication-failed')
    }
  }
  if (!wrong.ok && !unknown.ok) t.not(wrong.failure.logDetail, unknown.failure.logDetail, 'only the log tells them apart')
})

t.test('md5 hash format and bad inputs', async (t) => {
  t.ok(isMd5PasswordHash('md553f48b7c4b76a86ce72276c5755f217d'))
  t.notOk(isMd5PasswordHash('md553F48B7C4B76A86CE72276C5755F217D'), 'PostgreSQL writes lowercase hex only')
  t.notOk(isMd5PasswordHash('md553f48b7c4b76a86ce72276c5755f217'))
  t.notOk(isMd5PasswordHash('SCRAM-SHA-256$4096:c2FsdA==$x:y'))
  t.throws(() => md5SaltedResponse({ md5Hash: 'secret' }, 'alice', SALT), RangeError)
  t.throws(() => md5SaltedResponse({ password: 'secret' }, 'alice', Buffer.alloc(3)), RangeError)
})
