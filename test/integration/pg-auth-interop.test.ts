import t from 'tap'
import pg from 'pg'
import { once } from 'node:events'
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo, type Socket } from 'node:net'
import { chooseAuth, isLoopbackAddress, type ClientAuthConfig, type ClientAuthMethod } from '../../src/pg/auth/auth-method.js'
import type { PgAuthError } from '../../src/pg/auth/auth-failure.js'
import { md5PasswordHash, verifyMd5Response } from '../../src/pg/auth/md5-auth.js'
import { scramServerMechanisms, startScramServer, stepScramServer } from '../../src/pg/auth/scram-server.js'
import { encodeScramNonce } from '../../src/pg/auth/scram-syntax.js'
import { makeScramVerifier } from '../../src/pg/auth/scram-verifier.js'

// A real node-postgres client against a tiny PostgreSQL-speaking server whose authentication is
// Grey's: StartupMessage → AuthenticationSASL → SASLContinue → SASLFinal → AuthenticationOk →
// ReadyForQuery, then simple queries.

const users = new Map<string, ClientAuthMethod>([
  ['alice', { method: 'scram-sha-256', verifier: makeScramVerifier('correct horse battery staple') }],
  ['jörg', { method: 'scram-sha-256', verifier: makeScramVerifier('ｐäｓｓ wörd', { iterations: 10_000 }) }],
  ['bob', { method: 'md5', md5Hash: md5PasswordHash('hunter2', 'bob') }],
  ['carol', { method: 'md5', password: 's3cret' }],
  ['local', { method: 'trust' }],
])
const config: ClientAuthConfig = { users, mockAuthSecret: randomBytes(32) }

// --- just enough of the wire protocol -------------------------------------------------------------

const int16 = (n: number): Buffer => {
  const b = Buffer.alloc(2)
  b.writeInt16BE(n)
  return b
}
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}
const cstring = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8')
function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts)
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body])
}
const authentication = (code: number, ...parts: Buffer[]): Buffer => message('R', int32(code), ...parts)
const readyForQuery = (): Buffer => message('Z', Buffer.from('I'))
function errorResponse(e: { severity: string; sqlstate: string; message: string; detail?: string }): Buffer {
  const field = (code: string, value: string): Buffer => Buffer.concat([Buffer.from(code), cstring(value)])
  const fields = [field('S', e.severity), field('V', e.severity), field('C', e.sqlstate), field('M', e.message)]
  if (e.detail !== undefined) fields.push(field('D', e.detail))
  return message('E', ...fields, Buffer.from([0]))
}

/** Reads the untyped startup packet, then typed messages, from a socket. */
function frames(socket: Socket) {
  let buffered = Buffer.alloc(0)
  let closed = false
  let wake: (() => void) | undefined
  socket.on('data', (d: Buffer) => {
    buffered = Buffer.concat([buffered, d])
    wake?.()
  })
  socket.on('close', () => {
    closed = true
    wake?.()
  })
  async function need(n: number): Promise<void> {
    while (buffered.length < n) {
      if (closed) throw new Error('client closed the connection')
      await new Promise<void>((resolve) => (wake = resolve))
    }
  }
  function take(n: number): Buffer {
    const out = buffered.subarray(0, n)
    buffered = buffered.subarray(n)
    return out
  }
  return {
    async startup(): Promise<Buffer> {
      await need(4)
      const length = buffered.readInt32BE(0)
      await need(length)
      return take(length).subarray(4)
    },
    async next(): Promise<{ type: string; body: Buffer }> {
      await need(5)
      const length = buffered.readInt32BE(1)
      await need(length + 1)
      const frame = take(length + 1)
      return { type: String.fromCharCode(frame[0] as number), body: frame.subarray(5) }
    },
  }
}

function readCString(body: Buffer, at: number): [string, number] {
  const end = body.indexOf(0, at)
  return [body.toString('utf8', at, end), end + 1]
}

// --- the server ------------------------------------------------------------------------------------

async function authenticate(socket: Socket, io: ReturnType<typeof frames>, user: string): Promise<PgAuthError | undefined> {
  const decision = chooseAuth(user, config, isLoopbackAddress(socket.remoteAddress))
  if (decision.method === 'trust') return undefined
  if (decision.method === 'md5') {
    const salt = randomBytes(4)
    socket.write(authentication(5, salt))
    const reply = await io.next()
    const [response] = readCString(reply.body, 0)
    const result = verifyMd5Response({ secret: decision.secret, user, salt, response, doomed: decision.doomed })
    return result.ok ? undefined : result.failure.error
  }
  let state = startScramServer({
    username: user,
    verifier: decision.verifier,
    doomed: decision.doomed,
    serverNonce: encodeScramNonce(randomBytes(18)),
  })
  socket.write(authentication(10, ...scramServerMechanisms(undefined).map(cstring), Buffer.from([0])))
  for (;;) {
    const reply = await io.next()
    if (reply.type !== 'p') return { severity: 'FATAL', sqlstate: '08P01', message: `expected a SASL response, got ${reply.type}` }
    let step: ReturnType<typeof stepScramServer>
    if (state.phase === 'awaiting-client-first') {
      const [mechanism, at] = readCString(reply.body, 0)
      const length = reply.body.readInt32BE(at)
      step = stepScramServer(state, {
        type: 'SASLInitialResponse',
        mechanism,
        data: length < 0 ? null : reply.body.subarray(at + 4, at + 4 + length),
      })
    } else {
      step = stepScramServer(state, { type: 'SASLResponse', data: reply.body })
    }
    state = step.state
    if (step.output.type === 'failed') return step.output.failure.error
    if (step.output.type === 'sasl-continue') socket.write(authentication(11, step.output.data))
    else {
      socket.write(authentication(12, step.output.data))
      return undefined
    }
  }
}

async function session(socket: Socket): Promise<void> {
  const io = frames(socket)
  let startup = await io.startup()
  if (startup.readInt32BE(0) === 80877103) {
    socket.write('N') // SSLRequest: no TLS here
    startup = await io.startup()
  }
  const params = new Map<string, string>()
  for (let at = 4; startup[at] !== 0;) {
    const [key, next] = readCString(startup, at)
    const [value, after] = readCString(startup, next)
    params.set(key, value)
    at = after
  }
  const user = params.get('user') ?? ''
  const failure = await authenticate(socket, io, user)
  if (failure) {
    socket.end(errorResponse(failure))
    return
  }
  socket.write(
    Buffer.concat([
      authentication(0),
      message('S', cstring('server_version'), cstring('15.0 (grey auth test)')),
      message('S', cstring('client_encoding'), cstring('UTF8')),
      message('K', int32(4242), int32(0x5ec7e7)),
      readyForQuery(),
    ]),
  )
  for (;;) {
    const m = await io.next()
    if (m.type === 'X') return void socket.end()
    if (m.type !== 'Q') throw new Error(`unexpected message ${m.type}`)
    const [sql] = readCString(m.body, 0)
    if (sql === 'SELECT current_user') {
      const value = Buffer.from(user, 'utf8')
      socket.write(
        Buffer.concat([
          message('T', int16(1), cstring('current_user'), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)),
          message('D', int16(1), int32(value.length), value),
          message('C', cstring('SELECT 1')),
          readyForQuery(),
        ]),
      )
    } else {
      socket.write(
        Buffer.concat([
          errorResponse({ severity: 'ERROR', sqlstate: '42601', message: `grey test server only knows SELECT current_user` }),
          readyForQuery(),
        ]),
      )
    }
  }
}

const server = createServer((socket) => {
  session(socket).catch(() => socket.destroy())
})
server.listen(0, '127.0.0.1')
await once(server, 'listening')
const { port } = server.address() as AddressInfo
t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))

async function connect(user: string, password?: string, extra: Partial<pg.ClientConfig> = {}): Promise<pg.Client> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user,
    database: 'app',
    ...(password === undefined ? {} : { password }),
    ...extra,
  })
  client.on('error', () => {}) // a refused login also emits 'error' on some paths; connect() carries it
  await client.connect()
  return client
}

async function loginError(user: string, password: string): Promise<{ code?: string; severity?: string; message: string; detail?: string }> {
  try {
    const client = await connect(user, password)
    await client.end()
  } catch (err) {
    const e = err as { code?: string; severity?: string; message: string; detail?: string }
    return { code: e.code, severity: e.severity, message: e.message, detail: e.detail }
  }
  throw new Error(`${user} logged in with a wrong password`)
}

// --- the tests -------------------------------------------------------------------------------------

t.test('pg.Client logs in with SCRAM-SHA-256 and the right password', async (t) => {
  const client = await connect('alice', 'correct horse battery staple')
  const result = await client.query('SELECT current_user')
  t.same(result.rows, [{ current_user: 'alice' }])
  await t.rejects(client.query('SELECT 2'), { code: '42601' }, 'the session answers errors and goes on')
  t.same((await client.query('SELECT current_user')).rows, [{ current_user: 'alice' }])
  await client.end()
})

t.test('pg.Client with a non-ASCII user and password (SASLprep on both sides)', async (t) => {
  const client = await connect('jörg', 'ｐäｓｓ wörd')
  t.same((await client.query('SELECT current_user')).rows, [{ current_user: 'jörg' }])
  await client.end()
})

t.test('pg.Client with channel binding enabled over plain TCP sends y,, and is accepted', async (t) => {
  const client = await connect('alice', 'correct horse battery staple', { enableChannelBinding: true })
  t.same((await client.query('SELECT current_user')).rows, [{ current_user: 'alice' }])
  await client.end()
})

t.test('wrong password and unknown user get the same 28P01 error', async (t) => {
  const wrong = await loginError('alice', 'correct horse battery stapl')
  t.same(wrong, { code: '28P01', severity: 'FATAL', message: 'password authentication failed for user "alice"', detail: undefined })
  const unknown = await loginError('mallory', 'correct horse battery staple')
  t.same(unknown, { code: '28P01', severity: 'FATAL', message: 'password authentication failed for user "mallory"', detail: undefined })
})

t.test('md5 users, from a stored hash or a plaintext secret', async (t) => {
  const bob = await connect('bob', 'hunter2')
  t.same((await bob.query('SELECT current_user')).rows, [{ current_user: 'bob' }])
  await bob.end()
  const carol = await connect('carol', 's3cret')
  await carol.end()
  t.same(await loginError('bob', 'hunter3'), {
    code: '28P01',
    severity: 'FATAL',
    message: 'password authentication failed for user "bob"',
    detail: undefined,
  })
})

t.test('trust from loopback needs no password', async (t) => {
  const client = await connect('local')
  t.same((await client.query('SELECT current_user')).rows, [{ current_user: 'local' }])
  await client.end()
})
