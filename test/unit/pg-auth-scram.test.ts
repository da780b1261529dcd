import t from 'tap'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import {
  continueScramClient,
  finishScramClient,
  startScramClient,
  type ScramClientOptions,
  type ScramClientState,
} from '../../src/pg/auth/scram-client.js'
import {
  scramServerMechanisms,
  startScramServer,
  stepScramServer,
  type ScramServerOptions,
  type ScramServerOutput,
  type ScramServerState,
} from '../../src/pg/auth/scram-server.js'
import { encodeScramNonce, type ScramChannelBinding } from '../../src/pg/auth/scram-syntax.js'
import {
  ScramVerifierParseError,
  deriveScramKeys,
  formatScramVerifier,
  makeScramVerifier,
  mockScramVerifier,
  parseScramVerifier,
  type ScramVerifier,
} from '../../src/pg/auth/scram-verifier.js'

// RFC 7677 §3: user "user", password "pencil".
const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  serverNonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
  salt: Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'),
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
}
const MOCK_SECRET = Buffer.from('0123456789abcdef0123456789abcdef')
const TLS: ScramChannelBinding = { type: 'tls-server-end-point', data: Buffer.from('certificate hash of the server.') }
// A cheap verifier for the many tests that do not care about the iteration count.
const ALICE = makeScramVerifier('correct horse', { iterations: 16, salt: Buffer.from('alice salt 16 by') })

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1')
const nonce = (): string => encodeScramNonce(randomBytes(18))

function server(overrides: Partial<ScramServerOptions> = {}): ScramServerState {
  return startScramServer({ username: 'alice', verifier: ALICE, serverNonce: nonce(), ...overrides })
}

function data(output: ScramServerOutput, type: 'sasl-continue' | 'sasl-final'): Buffer {
  if (output.type !== type) throw new Error(`expected ${type}, got ${JSON.stringify(output)}`)
  return output.data
}

function failureOf(output: ScramServerOutput) {
  if (output.type !== 'failed') throw new Error(`expected a failure, got ${output.type}`)
  return output.failure
}

/** One full exchange between our client and our server; returns every message and the outcomes. */
function exchange(
  password: string | Uint8Array,
  serverOptions: Partial<ScramServerOptions>,
  clientOptions: Partial<ScramClientOptions> = {},
) {
  const serverNonce = serverOptions.serverNonce ?? nonce()
  let serverState = startScramServer({ username: 'alice', verifier: ALICE, ...serverOptions, serverNonce })
  const start = startScramClient({
    password,
    clientNonce: nonce(),
    serverMechanisms: scramServerMechanisms(serverOptions.channelBinding),
    ...clientOptions,
  })
  if (!start.ok) throw new Error(start.failure.message)
  const first = stepScramServer(serverState, { type: 'SASLInitialResponse', mechanism: start.mechanism, data: start.data })
  serverState = first.state
  if (first.output.type === 'failed') return { serverFailure: first.output.failure }
  const cont = continueScramClient(start.state, first.output.data)
  if (!cont.ok) throw new Error(cont.failure.message)
  const final = stepScramServer(serverState, { type: 'SASLResponse', data: cont.data })
  if (final.output.type === 'failed')
    return { serverFailure: final.output.failure, clientFirst: start.data, serverFirst: first.output.data }
  const finish = finishScramClient(cont.state, final.output.data)
  return { finish, serverState: final.state, clientFirst: start.data, serverFirst: first.output.data, clientFinal: cont.data }
}

t.test('RFC 7677 §3 test vector, byte for byte, through both state machines', async (t) => {
  const verifier = makeScramVerifier('pencil', { salt: RFC.salt, iterations: 4096 })
  const client = startScramClient({
    password: 'pencil',
    clientNonce: RFC.clientNonce,
    serverMechanisms: ['SCRAM-SHA-256'],
    username: 'user',
  })
  t.ok(client.ok)
  if (!client.ok) return
  t.equal(client.mechanism, 'SCRAM-SHA-256')
  t.equal(client.data.toString('latin1'), RFC.clientFirst)

  const first = stepScramServer(startScramServer({ username: 'user', verifier, serverNonce: RFC.serverNonce }), {
    type: 'SASLInitialResponse',
    mechanism: 'SCRAM-SHA-256',
    data: client.data,
  })
  t.equal(data(first.output, 'sasl-continue').toString('latin1'), RFC.serverFirst)

  const cont = continueScramClient(client.state, bytes(RFC.serverFirst))
  t.ok(cont.ok)
  if (!cont.ok) return
  t.equal(cont.data.toString('latin1'), RFC.clientFinal)
  t.same(cont.keys.salt, RFC.salt)

  const final = stepScramServer(first.state, { type: 'SASLResponse', data: bytes(RFC.clientFinal) })
  t.equal(data(final.output, 'sasl-final').toString('latin1'), RFC.serverFinal)
  t.equal(final.state.phase, 'authenticated')

  const finish = finishScramClient(cont.state, bytes(RFC.serverFinal))
  t.ok(finish.ok)
  t.equal(finish.state.phase, 'verified')
})

t.test('client and server agree for random passwords, salts and iteration counts (property)', async (t) => {
  const password = fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 24 }), fc.uint8Array({ minLength: 1, maxLength: 24 }))
  fc.assert(
    fc.property(
      password,
      fc.uint8Array({ minLength: 1, maxLength: 32 }),
      fc.integer({ min: 1, max: 64 }),
      fc.boolean(),
      (pw, salt, iterations, tls) => {
        const verifier = makeScramVerifier(pw, { salt, iterations })
        const result = exchange(pw, { verifier, ...(tls ? { channelBinding: TLS } : {}) }, tls ? { channelBinding: TLS } : {})
        return result.finish?.ok === true && result.serverState?.phase === 'authenticated'
      },
    ),
    { numRuns: 150 },
  )
  t.pass('150 random exchanges authenticated')
})

t.test('wrong password and unknown user fail identically', async (t) => {
  const wrong = exchange('Correct horse', { verifier: ALICE })
  const unknownNoGuess = exchange('whatever', { verifier: mockScramVerifier('alice', MOCK_SECRET, 16), doomed: true })
  t.ok(wrong.serverFailure)
  t.ok(unknownNoGuess.serverFailure)
  t.same(unknownNoGuess.serverFailure?.error, wrong.serverFailure?.error, 'the ErrorResponse is the same')
  t.equal(unknownNoGuess.serverFailure?.reason, wrong.serverFailure?.reason)
  t.same(wrong.serverFailure?.error, { severity: 'FATAL', sqlstate: '28P01', message: 'password authentication failed for user "alice"' })
  t.notOk('detail' in (wrong.serverFailure?.error ?? {}), 'nothing more than the message')
  t.not(unknownNoGuess.serverFailure?.logDetail, wrong.serverFailure?.logDetail, 'only the log tells them apart')

  // Even the right password for a mock verifier (here: a mock built from a real password) fails: doomed wins.
  const doomedButRight = exchange('correct horse', { verifier: ALICE, doomed: true })
  t.same(doomedButRight.serverFailure?.error, wrong.serverFailure?.error)
})

t.test('a mock verifier looks like a real one to the client', async (t) => {
  const real = makeScramVerifier('pw', { iterations: 4096 })
  const mockA = mockScramVerifier('nobody', MOCK_SECRET)
  const mockAagain = mockScramVerifier('nobody', MOCK_SECRET)
  const mockB = mockScramVerifier('nobody2', MOCK_SECRET)
  t.equal(mockA.salt.length, real.salt.length, 'same salt length as a real verifier')
  t.equal(mockA.iterations, real.iterations, 'same default iteration count')
  t.same(mockA, mockAagain, 'the same unknown user always gets the same salt')
  t.not(mockA.salt.toString('hex'), mockB.salt.toString('hex'), 'different users get different salts')
  t.not(mockScramVerifier('nobody', Buffer.alloc(16, 7)).salt.toString('hex'), mockA.salt.toString('hex'), 'the salt depends on the secret')
  t.throws(() => mockScramVerifier('x', Buffer.alloc(15)), RangeError)

  const s = startScramServer({ username: 'nobody', verifier: mockA, doomed: true, serverNonce: 'SERVERNONCE' })
  const out = stepScramServer(s, { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: bytes('n,,n=,r=CLIENT') })
  t.match(data(out.output, 'sasl-continue').toString('latin1'), /^r=CLIENTSERVERNONCE,s=[A-Za-z0-9+/]{22}==,i=4096$/)
})

t.test('tampered client-final messages are refused', async (t) => {
  const start = startScramClient({ password: 'correct horse', clientNonce: 'CLIENTNONCE', serverMechanisms: ['SCRAM-SHA-256'] })
  if (!start.ok) throw new Error('start')
  const first = stepScramServer(server({ serverNonce: 'SERVERNONCE' }), {
    type: 'SASLInitialResponse',
    mechanism: start.mechanism,
    data: start.data,
  })
  const cont = continueScramClient(start.state, data(first.output, 'sasl-continue'))
  if (!cont.ok) throw new Error('continue')
  const good = cont.data.toString('latin1')
  t.equal(
    data(stepScramServer(first.state, { type: 'SASLResponse', data: cont.data }).output, 'sasl-final').length > 0,
    true,
    'untampered passes',
  )

  const proof = good.slice(good.indexOf(',p=') + 3)
  const flipped = Buffer.from(proof, 'base64')
  flipped[0] = (flipped[0] as number) ^ 1
  const cases: Array<[string, string, string]> = [
    ['nonce', good.replace('SERVERNONCE', 'SERVERNONCF'), 'nonce-mismatch'],
    ['nonce prefix only', good.replace('CLIENTNONCESERVERNONCE', 'CLIENTNONCE'), 'nonce-mismatch'],
    ['channel binding y for an n header', good.replace('c=biws', 'c=eSws'), 'channel-binding'],
    ['channel binding with data', good.replace('c=biws', `c=${Buffer.from('n,,junk').toString('base64')}`), 'channel-binding'],
    ['proof bit flip', good.replace(proof, flipped.toString('base64')), 'authentication-failed'],
    ['proof of another password', good.replace(proof, randomBytes(32).toString('base64')), 'authentication-failed'],
  ]
  for (const [name, message, reason] of cases) {
    const step = stepScramServer(first.state, { type: 'SASLResponse', data: bytes(message) })
    t.equal(failureOf(step.output).reason, reason, name)
    t.equal(step.state.phase, 'failed', `${name}: the machine ends`)
  }
})

t.test('gs2 header and channel binding rules', async (t) => {
  t.same(scramServerMechanisms(undefined), ['SCRAM-SHA-256'], 'no TLS: only SCRAM-SHA-256 is offered')
  t.same(scramServerMechanisms(TLS), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'])

  const plain = exchange('correct horse', {})
  t.match(plain.clientFirst?.toString('latin1'), /^n,,n=,r=/, 'no TLS: n,,')
  t.ok(plain.finish?.ok)

  const plus = exchange('correct horse', { channelBinding: TLS }, { channelBinding: TLS })
  t.match(plus.clientFirst?.toString('latin1'), /^p=tls-server-end-point,,/, 'TLS on both sides: -PLUS')
  t.match(
    plus.clientFinal?.toString('latin1'),
    new RegExp(`^c=${Buffer.concat([bytes('p=tls-server-end-point,,'), TLS.data]).toString('base64')},`),
  )
  t.ok(plus.finish?.ok)

  const mitm = exchange(
    'correct horse',
    { channelBinding: TLS },
    { channelBinding: { type: 'tls-server-end-point', data: Buffer.from('the proxy in the middle') } },
  )
  t.equal(mitm.serverFailure?.reason, 'channel-binding', 'a different certificate hash fails the binding check')

  const yNoTls = exchange('correct horse', {}, { channelBinding: TLS })
  t.match(yNoTls.clientFirst?.toString('latin1'), /^y,,/, 'client can bind, server offers no -PLUS: y,,')
  t.ok(yNoTls.finish?.ok, 'y,, is fine without TLS on the server')

  const initial = (mechanism: string, text: string, tls?: ScramChannelBinding) =>
    stepScramServer(server(tls ? { channelBinding: tls } : {}), { type: 'SASLInitialResponse', mechanism, data: bytes(text) }).output
  const refusals: Array<[string, string, string, ScramChannelBinding | undefined, string]> = [
    ['p= without TLS', 'SCRAM-SHA-256', 'p=tls-server-end-point,,n=,r=abc', undefined, 'channel-binding'],
    ['-PLUS without TLS', 'SCRAM-SHA-256-PLUS', 'p=tls-server-end-point,,n=,r=abc', undefined, 'unsupported-mechanism'],
    ['y over TLS (downgrade)', 'SCRAM-SHA-256', 'y,,n=,r=abc', TLS, 'channel-binding'],
    ['-PLUS with n', 'SCRAM-SHA-256-PLUS', 'n,,n=,r=abc', TLS, 'channel-binding'],
    ['-PLUS with y', 'SCRAM-SHA-256-PLUS', 'y,,n=,r=abc', TLS, 'channel-binding'],
    ['p= with plain SCRAM-SHA-256 over TLS', 'SCRAM-SHA-256', 'p=tls-server-end-point,,n=,r=abc', TLS, 'channel-binding'],
    ['unsupported binding type', 'SCRAM-SHA-256-PLUS', 'p=tls-unique,,n=,r=abc', TLS, 'channel-binding'],
    ['unknown mechanism', 'SCRAM-SHA-1', 'n,,n=,r=abc', undefined, 'unsupported-mechanism'],
  ]
  for (const [name, mechanism, text, tls, reason] of refusals) {
    const failure = failureOf(initial(mechanism, text, tls))
    t.equal(failure.reason, reason, name)
    t.equal(failure.error.sqlstate, '08P01', `${name}: protocol violation`)
  }
  t.equal(initial('SCRAM-SHA-256', 'n,,n=,r=abc', TLS).type, 'sasl-continue', 'n,, over TLS is allowed (the client cannot bind)')
})

t.test('malformed client-first messages', async (t) => {
  const cases: Array<[string, string]> = [
    ['empty', ''],
    ['no bare part', 'n,'],
    ['unknown flag', 'x,,n=,r=abc'],
    ['authzid', 'n,a=bob,n=,r=abc'],
    ['mandatory extension', 'n,,m=ext,n=,r=abc'],
    ['no user name', 'n,,r=abc'],
    ['empty nonce', 'n,,n=,r='],
    ['nonce with a space', 'n,,n=,r=a b'],
    ['no nonce', 'n,,n='],
    ['bad extension', 'n,,n=,r=abc,junk'],
  ]
  for (const [name, text] of cases) {
    const failure = failureOf(
      stepScramServer(server(), { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: bytes(text) }).output,
    )
    t.equal(failure.reason, 'malformed-message', name)
    t.same(failure.error.sqlstate, '08P01')
  }
  const none = failureOf(stepScramServer(server(), { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: null }).output)
  t.equal(none.reason, 'malformed-message', 'no initial response')
  const ok = stepScramServer(server({ serverNonce: 'S' }), {
    type: 'SASLInitialResponse',
    mechanism: 'SCRAM-SHA-256',
    data: bytes('n,,n=anyone=2Cat=3Dall,r=abc,x=ext'),
  })
  t.equal(data(ok.output, 'sasl-continue').toString('latin1').slice(0, 8), 'r=abcS,s', 'n= is ignored, extensions allowed')
})

t.test('malformed client-final messages', async (t) => {
  const first = stepScramServer(server({ serverNonce: 'S' }), {
    type: 'SASLInitialResponse',
    mechanism: 'SCRAM-SHA-256',
    data: bytes('n,,n=,r=C'),
  })
  const p = randomBytes(32).toString('base64')
  const cases: Array<[string, string]> = [
    ['no c=', `r=CS,p=${p}`],
    ['no r=', `c=biws,p=${p}`],
    ['no proof', 'c=biws,r=CS'],
    ['garbage after proof', `c=biws,r=CS,p=${p},x=1`],
    ['bad extension', `c=biws,r=CS,junk,p=${p}`],
    ['proof not base64', 'c=biws,r=CS,p=!!!!'],
    ['proof too short', `c=biws,r=CS,p=${randomBytes(31).toString('base64')}`],
    ['non-canonical base64', `c=biws,r=CS,p=${p.slice(0, -2)}B=`],
  ]
  for (const [name, text] of cases) {
    t.equal(failureOf(stepScramServer(first.state, { type: 'SASLResponse', data: bytes(text) }).output).reason, 'malformed-message', name)
  }
  const withExtension = stepScramServer(first.state, { type: 'SASLResponse', data: bytes(`c=biws,r=CS,x=ext,p=${p}`) })
  t.equal(failureOf(withExtension.output).reason, 'authentication-failed', 'extensions before the proof are parsed past')
})

t.test('messages out of order', async (t) => {
  const s0 = server()
  t.equal(failureOf(stepScramServer(s0, { type: 'SASLResponse', data: bytes('c=biws') }).output).reason, 'unexpected-message')
  const first = stepScramServer(s0, { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: bytes('n,,n=,r=abc') })
  const again = stepScramServer(first.state, { type: 'SASLInitialResponse', mechanism: 'SCRAM-SHA-256', data: bytes('n,,n=,r=abc') })
  t.equal(failureOf(again.output).reason, 'unexpected-message')
  t.equal(
    failureOf(stepScramServer({ phase: 'authenticated' }, { type: 'SASLResponse', data: bytes('') }).output).reason,
    'unexpected-message',
  )
  t.throws(() => startScramServer({ username: 'a', verifier: ALICE, serverNonce: 'has,comma' }), RangeError)
  t.throws(() => startScramServer({ username: 'a', verifier: ALICE, serverNonce: '' }), RangeError)
})

t.test('client: mechanism choice', async (t) => {
  const base = { password: 'pw', clientNonce: 'N' }
  const none = startScramClient({ ...base, serverMechanisms: ['SCRAM-SHA-1'] })
  t.equal(!none.ok && none.failure.reason, 'no-supported-mechanism')
  const required = startScramClient({ ...base, serverMechanisms: ['SCRAM-SHA-256'], channelBinding: TLS, requireChannelBinding: true })
  t.equal(!required.ok && required.failure.reason, 'channel-binding-required')
  const requiredNoTls = startScramClient({
    ...base,
    serverMechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    requireChannelBinding: true,
  })
  t.equal(!requiredNoTls.ok && requiredNoTls.failure.reason, 'channel-binding-required')
  const plus = startScramClient({
    ...base,
    serverMechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    channelBinding: TLS,
    requireChannelBinding: true,
  })
  t.equal(plus.ok && plus.mechanism, 'SCRAM-SHA-256-PLUS')
  const escaped = startScramClient({ ...base, serverMechanisms: ['SCRAM-SHA-256'], username: 'a,b=c' })
  t.equal(escaped.ok && escaped.data.toString('latin1'), 'n,,n=a=2Cb=3Dc,r=N', 'saslname escaping')
  t.throws(() => startScramClient({ ...base, clientNonce: 'a b', serverMechanisms: ['SCRAM-SHA-256'] }), RangeError)
})

function clientAfterStart(options: Partial<ScramClientOptions> = {}): ScramClientState {
  const start = startScramClient({ password: 'correct horse', clientNonce: 'CLIENT', serverMechanisms: ['SCRAM-SHA-256'], ...options })
  if (!start.ok) throw new Error('start')
  return start.state
}

t.test('client: malformed or hostile server-first', async (t) => {
  const salt = Buffer.from('salt').toString('base64')
  const cases: Array<[string, string, string]> = [
    ['mandatory extension', `m=x,r=CLIENTS,s=${salt},i=4096`, 'malformed-server-first'],
    ['missing salt', 'r=CLIENTS,i=4096', 'malformed-server-first'],
    ['order', `s=${salt},r=CLIENTS,i=4096`, 'malformed-server-first'],
    ['bad extension', `r=CLIENTS,s=${salt},i=4096,junk`, 'malformed-server-first'],
    ['salt not base64', 'r=CLIENTS,s=***,i=4096', 'malformed-server-first'],
    ['empty salt', 'r=CLIENTS,s=,i=4096', 'malformed-server-first'],
    ['zero iterations', `r=CLIENTS,s=${salt},i=0`, 'malformed-server-first'],
    ['iterations not a number', `r=CLIENTS,s=${salt},i=4k`, 'malformed-server-first'],
    ['iterations beyond the limit', `r=CLIENTS,s=${salt},i=100001`, 'iteration-count-too-high'],
    ['nonce not ours', `r=OTHERS,s=${salt},i=4096`, 'nonce-mismatch'],
    ['nonce not extended', `r=CLIENT,s=${salt},i=4096`, 'nonce-mismatch'],
    ['nonce not printable', `r=CLIENT\u00e9,s=${salt},i=4096`, 'nonce-mismatch'],
  ]
  for (const [name, text, reason] of cases) {
    const cont = continueScramClient(clientAfterStart(), bytes(text))
    t.equal(!cont.ok && cont.failure.reason, reason, name)
    t.equal(cont.state.phase, 'failed')
  }
  const lowered = continueScramClient(clientAfterStart({ maxIterations: 10 }), bytes(`r=CLIENTS,s=${salt},i=11`))
  t.equal(!lowered.ok && lowered.failure.reason, 'iteration-count-too-high', 'maxIterations is configurable')
  t.match(
    !lowered.ok && lowered.failure.message,
    /^grey: backend SCRAM authentication failed: the backend asks for 11 PBKDF2 iterations; the limit is 10$/,
  )
  const extension = continueScramClient(clientAfterStart(), bytes(`r=CLIENTS,s=${salt},i=1,x=whatever`))
  t.ok(extension.ok, 'optional extensions are ignored')
})

t.test('client: the server signature proves the backend knows the verifier', async (t) => {
  const start = startScramClient({ password: 'correct horse', clientNonce: 'CLIENT', serverMechanisms: ['SCRAM-SHA-256'] })
  if (!start.ok) throw new Error('start')
  const first = stepScramServer(server({ serverNonce: 'S' }), { type: 'SASLInitialResponse', mechanism: start.mechanism, data: start.data })
  const cont = continueScramClient(start.state, data(first.output, 'sasl-continue'))
  if (!cont.ok) throw new Error('continue')
  const serverFinal = data(stepScramServer(first.state, { type: 'SASLResponse', data: cont.data }).output, 'sasl-final').toString('latin1')
  const signature = Buffer.from(serverFinal.slice(2), 'base64')
  signature[31] = (signature[31] as number) ^ 0x80

  const cases: Array<[string, string, string]> = [
    ['one bit of the signature', `v=${signature.toString('base64')}`, 'server-signature-mismatch'],
    ['a signature from a backend with another verifier', `v=${randomBytes(32).toString('base64')}`, 'server-signature-mismatch'],
    ['server error', 'e=invalid-proof', 'server-error'],
    ['no signature', 'x=1', 'malformed-server-final'],
    ['empty', '', 'malformed-server-final'],
    ['short signature', `v=${randomBytes(20).toString('base64')}`, 'malformed-server-final'],
    ['not base64', 'v=@@@@', 'malformed-server-final'],
  ]
  for (const [name, text, reason] of cases) {
    const finish = finishScramClient(cont.state, bytes(text))
    t.equal(!finish.ok && finish.failure.reason, reason, name)
    t.equal(finish.state.phase, 'failed')
  }
  t.ok(finishScramClient(cont.state, bytes(serverFinal)).ok, 'the genuine signature passes')
  t.ok(finishScramClient(cont.state, bytes(`${serverFinal},x=ext`)).ok, 'extensions after v= are ignored')

  // A backend that wants to skip the proof and sign with what it does not have fails too.
  const impostor = makeScramVerifier('another password', { iterations: 16, salt: Buffer.from('alice salt 16 by') })
  const impostorFirst = stepScramServer(server({ serverNonce: 'S', verifier: impostor }), {
    type: 'SASLInitialResponse',
    mechanism: start.mechanism,
    data: start.data,
  })
  const impostorCont = continueScramClient(start.state, data(impostorFirst.output, 'sasl-continue'))
  if (!impostorCont.ok) throw new Error('continue')
  const forged = `v=${Buffer.alloc(32).toString('base64')}`
  t.equal(finishScramClient(impostorCont.state, bytes(forged)).ok, false)
})

t.test('client: steps out of order', async (t) => {
  const start = clientAfterStart()
  const fin = finishScramClient(start, bytes('v=x'))
  t.equal(!fin.ok && fin.failure.reason, 'unexpected-message')
  const twice = continueScramClient({ phase: 'verified' }, bytes('r=x'))
  t.equal(!twice.ok && twice.failure.reason, 'unexpected-message')
})

t.test('client: cached keys skip PBKDF2 only when salt and iterations match', async (t) => {
  const keys = deriveScramKeys('correct horse', ALICE.salt, ALICE.iterations)
  // With a wrong password, success proves that the cached keys were used.
  const cached = exchange('wrong password', { verifier: ALICE }, { cachedKeys: keys })
  t.ok(cached.finish?.ok, 'same salt and iterations: cached keys used')
  const otherIterations = deriveScramKeys('correct horse', ALICE.salt, 17)
  const stale = exchange('correct horse', { verifier: ALICE }, { cachedKeys: otherIterations })
  t.ok(stale.finish?.ok, 'different iterations: derived from the password')
  const otherSalt = deriveScramKeys('correct horse', Buffer.from('another salt'), 16)
  t.ok(exchange('correct horse', { verifier: ALICE }, { cachedKeys: otherSalt }).finish?.ok, 'different salt: derived from the password')
})

t.test('verifier text: format and parse round trip', async (t) => {
  const rfc = makeScramVerifier('pencil', { salt: RFC.salt, iterations: 4096 })
  const text = formatScramVerifier(rfc)
  t.match(text, /^SCRAM-SHA-256\$4096:W22ZaJ0SNY7soEsUEjb6gQ==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/)
  t.same(parseScramVerifier(text), rfc)

  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (iterations, salt, storedKey, serverKey) => {
        const verifier: ScramVerifier = {
          iterations,
          salt: Buffer.from(salt),
          storedKey: Buffer.from(storedKey),
          serverKey: Buffer.from(serverKey),
        }
        const formatted = formatScramVerifier(verifier)
        const parsed = parseScramVerifier(formatted)
        return (
          !(parsed instanceof ScramVerifierParseError) && formatScramVerifier(parsed) === formatted && parsed.salt.equals(verifier.salt)
        )
      },
    ),
  )
})

t.test('verifier text: malformed verifiers are refused', async (t) => {
  const key = Buffer.alloc(32, 1).toString('base64')
  const salt = Buffer.from('salt').toString('base64')
  const cases: Array<[string, string]> = [
    ['empty', ''],
    ['md5 hash', 'md5c4ca4238a0b923820dcc509a6f75849b'],
    ['other mechanism', `SCRAM-SHA-1$4096:${salt}$${key}:${key}`],
    ['missing server key', `SCRAM-SHA-256$4096:${salt}$${key}`],
    ['extra section', `SCRAM-SHA-256$4096:${salt}$${key}:${key}$x`],
    ['zero iterations', `SCRAM-SHA-256$0:${salt}$${key}:${key}`],
    ['leading zero', `SCRAM-SHA-256$04096:${salt}$${key}:${key}`],
    ['negative iterations', `SCRAM-SHA-256$-1:${salt}$${key}:${key}`],
    ['iterations beyond int32', `SCRAM-SHA-256$2147483648:${salt}$${key}:${key}`],
    ['salt not base64', `SCRAM-SHA-256$4096:***$${key}:${key}`],
    ['salt with bad padding', `SCRAM-SHA-256$4096:c2FsdA=$${key}:${key}`],
    ['non-canonical salt', `SCRAM-SHA-256$4096:QR==$${key}:${key}`],
    ['stored key 31 bytes', `SCRAM-SHA-256$4096:${salt}$${Buffer.alloc(31).toString('base64')}:${key}`],
    ['server key 33 bytes', `SCRAM-SHA-256$4096:${salt}$${key}:${Buffer.alloc(33).toString('base64')}`],
    ['trailing newline', `SCRAM-SHA-256$4096:${salt}$${key}:${key}\n`],
  ]
  for (const [name, text] of cases) {
    const parsed = parseScramVerifier(text)
    t.type(parsed, ScramVerifierParseError, name)
    if (parsed instanceof ScramVerifierParseError)
      t.match(parsed.message, /^grey: malformed SCRAM verifier \(.+\); expected SCRAM-SHA-256\$/)
  }
  t.notOk(parseScramVerifier(`SCRAM-SHA-256$2147483647:${salt}$${key}:${key}`) instanceof ScramVerifierParseError, 'int32 max is fine')
})

t.test('makeScramVerifier and deriveScramKeys defaults and limits', async (t) => {
  const v = makeScramVerifier('pw')
  t.equal(v.iterations, 4096)
  t.equal(v.salt.length, 16)
  t.not(makeScramVerifier('pw').salt.toString('hex'), v.salt.toString('hex'), 'a fresh random salt each time')
  t.throws(() => deriveScramKeys('pw', Buffer.from('s'), 0), RangeError)
  t.throws(() => deriveScramKeys('pw', Buffer.from('s'), 1.5), RangeError)
  t.throws(() => deriveScramKeys('pw', Buffer.alloc(0), 1), RangeError)
  t.throws(() => encodeScramNonce(Buffer.alloc(0)), RangeError)
})
