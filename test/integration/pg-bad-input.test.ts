// Bad input against Grey's PostgreSQL front end, in front of the real test lab: a seeded fuzzer
// (random bytes before and after log-in, mutated valid messages, absurd lengths, slow senders) and
// the configured limits. Invariants: the offending connection gets an ErrorResponse with a SQLSTATE
// before Grey closes it (08P01 for protocol errors), never a silent drop or a hang; the process and
// a bystander session running queries all along carry on. Replay: GREY_FUZZ_SEED=<n>.
import type { Socket } from 'node:net'
import t from 'tap'
import fc from 'fast-check'
import { serialize } from 'pg-protocol/dist/serializer'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { rawConnect, sendAndWatch } from '../fixtures/raw-client.js'
import { ensureTestLab, pgConnect, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab()
const seed = Number(process.env.GREY_FUZZ_SEED ?? Date.now() % 100_000)
t.comment(`fuzz seed ${seed} (replay: GREY_FUZZ_SEED=${seed} npx tap test/integration/pg-bad-input.test.ts)`)

const grey = await greyInProcess('eu-west', {
  GREY_PROXY__AUTH__USERS__FUZZER__TRUST: 'true',
  GREY_PROXY__LIMITS__MAX_MESSAGE_SIZE: '65536',
  GREY_PROXY__LIMITS__HANDSHAKE_TIMEOUT: '1s',
  GREY_PROXY__LIMITS__CLIENT_IDLE_TIMEOUT: '1s',
})
t.teardown(() => grey.stop())

/** What a raw connection got before it ended (or before we gave up waiting). */
interface Outcome {
  errors: { severity: string; code: string; message: string }[]
  closedByServer: boolean
  bytes: number
}

/** The ErrorResponses in a stream of backend messages (whole messages only). */
function errorsIn(stream: Buffer): Outcome['errors'] {
  const errors: Outcome['errors'] = []
  for (let at = 0; at + 5 <= stream.length;) {
    const type = stream[at]!
    const length = stream.readInt32BE(at + 1)
    if (length < 4) break
    if (type === 0x45) {
      const fields = new Map<string, string>()
      for (const part of stream
        .subarray(at + 5, at + 1 + length)
        .toString('utf8')
        .split('\0')) {
        if (part.length > 0) fields.set(part[0]!, part.slice(1))
      }
      errors.push({ severity: fields.get('V') ?? '', code: fields.get('C') ?? '', message: fields.get('M') ?? '' })
    }
    // A lone 'N' answers an SSLRequest or GSSENCRequest the fuzzer made by chance: one byte, no length.
    at += type === 0x4e && length > 0x00ffffff ? 1 : 1 + length
  }
  return errors
}

const connect = (): Promise<Socket> => rawConnect(grey.pg)

async function send(socket: Socket, bytes: Buffer, waitMs: number, paceMs = 0): Promise<Outcome> {
  const { reply, closedByServer } = await sendAndWatch(socket, bytes, waitMs, paceMs)
  return { errors: errorsIn(reply), closedByServer, bytes: reply.length }
}

/** Logs in as the trusted fuzzer user and waits for ReadyForQuery. */
async function loggedIn(): Promise<Socket> {
  const socket = await connect()
  socket.write(serialize.startup({ user: 'fuzzer', database: lab.pg.database }))
  // Not `for await`: leaving that loop would destroy the socket.
  await new Promise<void>((resolve) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk])
      if (!got.includes(Buffer.from('Z\0\0\0\x05I'))) return
      socket.off('data', onData)
      resolve()
    }
    socket.on('data', onData)
  })
  return socket
}

/** A bystander session that keeps running a query with a parameter and checks every answer. */
function bystander(): { stop: () => Promise<{ queries: number; wrong: number; failures: string[] }> } {
  let running = true
  const result = { queries: 0, wrong: 0, failures: [] as string[] }
  const done = (async () => {
    const c = await pgConnect(lab, grey.pg)
    try {
      while (running) {
        const n = result.queries++
        try {
          const r = await c.query<{ n: number }>('SELECT $1::int AS n', [n])
          if (r.rows[0]?.n !== n) result.wrong++
        } catch (err) {
          result.failures.push((err as Error).message)
        }
        await new Promise((r) => setTimeout(r, 20))
      }
    } finally {
      await c.end()
    }
  })()
  return {
    stop: async () => {
      running = false
      await done
      return result
    },
  }
}

/** Valid messages the mutator starts from: simple and extended protocol, COPY, Close, Describe. */
const VALID: Buffer[] = [
  serialize.query('SELECT 1'),
  Buffer.concat([
    serialize.parse({ name: 's1', text: 'SELECT $1::int + 1', types: [23] }),
    serialize.bind({ statement: 's1', values: ['41'] }),
    serialize.describe({ type: 'P', name: '' }),
    serialize.execute({ portal: '', rows: 0 }),
    serialize.sync(),
  ]),
  Buffer.concat([
    serialize.parse({ text: 'SELECT now()' }),
    serialize.describe({ type: 'S', name: '' }),
    serialize.flush(),
    serialize.sync(),
  ]),
  Buffer.concat([serialize.close({ type: 'S', name: 'nope' }), serialize.sync()]),
  serialize.query("SET application_name = 'fuzz'"),
]

type Case = { kind: 'random-before-login' | 'random-after-login' | 'mutated'; bytes: Buffer }

const caseArbitrary: fc.Arbitrary<Case> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 80 }).map((b) => ({ kind: 'random-before-login' as const, bytes: Buffer.from(b) })),
  fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => ({ kind: 'random-after-login' as const, bytes: Buffer.from(b) })),
  fc
    .tuple(
      fc.constantFrom(...VALID),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
      fc.option(fc.nat(), { nil: undefined }),
    )
    .map(([valid, flips, cut]) => {
      const bytes = Buffer.from(valid)
      for (const [at, value] of flips) bytes[at % bytes.length] = value
      return { kind: 'mutated' as const, bytes: cut === undefined ? bytes : bytes.subarray(0, cut % bytes.length) }
    }),
)

t.test('fuzzed clients get an error before the close; the process and a bystander carry on', async (t) => {
  const cases = fc.sample(caseArbitrary, { seed, numRuns: 240 })
  const watcher = bystander()
  const started = Date.now()
  const tally = { errorThenClose: 0, answeredAndOpen: 0, silentClose: 0, protocolErrors: 0, idleTimeouts: 0 }
  const badCodes: string[] = []
  // Sixteen at a time: most cases end at once with 08P01; some wait for the idle or handshake timeout.
  for (let i = 0; i < cases.length; i += 16) {
    const outcomes = await Promise.all(
      cases.slice(i, i + 16).map(async (c) => {
        const socket = c.kind === 'random-before-login' ? await connect() : await loggedIn()
        return { c, outcome: await send(socket, c.bytes, 3000) }
      }),
    )
    for (const { c, outcome } of outcomes) {
      const fatal = outcome.errors.find((e) => e.severity === 'FATAL')
      if (outcome.closedByServer && !fatal) {
        tally.silentClose++
        badCodes.push(`${c.kind} ${c.bytes.toString('hex')}: closed without a FATAL error`)
      } else if (outcome.closedByServer) tally.errorThenClose++
      else tally.answeredAndOpen++
      if (fatal?.code === '08P01') tally.protocolErrors++
      if (fatal?.code === '57P05' || fatal?.code === '25P03') tally.idleTimeouts++
      if (fatal && !['08P01', '57P05', '25P03', '0A000', '28000', '28P01', '3D000', '22023'].includes(fatal.code)) {
        badCodes.push(`${c.kind} ${c.bytes.toString('hex')}: FATAL ${fatal.code} ${fatal.message}`)
      }
    }
  }
  const seen = await watcher.stop()
  t.comment(`fuzz: ${cases.length} cases in ${Date.now() - started} ms: ${JSON.stringify(tally)}`)
  t.same(badCodes, [], 'every connection Grey closed got a FATAL error with a protocol or start-up SQLSTATE first')
  t.ok(tally.protocolErrors > cases.length / 3, `most cases were protocol errors (${tally.protocolErrors})`)
  t.ok(seen.queries > 20, `the bystander ran queries throughout (${seen.queries})`)
  t.equal(seen.wrong, 0, 'and every answer was right')
  t.same(seen.failures, [], 'and none failed')
})

t.test('absurd lengths get 08P01 naming the problem', async (t) => {
  for (const [name, bytes] of [
    ['a Query of 2 GiB', Buffer.from('517fffffff', 'hex')],
    ['a length of 3', Buffer.from('5100000003', 'hex')],
    ['a negative length', Buffer.from('51ffffffff', 'hex')],
    ['a Query over max_message_size', serialize.query('SELECT ' + 'x'.repeat(70_000))],
  ] as const) {
    const outcome = await send(await loggedIn(), bytes, 3000)
    t.ok(outcome.closedByServer, `${name}: closed`)
    t.match(outcome.errors[0], { severity: 'FATAL', code: '08P01' }, `${name}: FATAL 08P01`)
  }
  const before = await send(await connect(), Buffer.from('000186a0', 'hex'), 3000)
  t.match(before.errors[0], { code: '08P01' }, 'a start-up packet of 100000 bytes: 08P01')
})

t.test('a client that sends one byte at a time: fine when valid, cut off by the handshake timeout when it never logs in', async (t) => {
  const slowLogin = await send(await connect(), serialize.startup({ user: 'fuzzer', database: lab.pg.database }), 3000, 250)
  t.ok(slowLogin.closedByServer, 'closed')
  t.match(slowLogin.errors[0], { code: '08P01', message: /did not finish within 1000 ms/ }, 'the handshake timeout')
  const slowQuery = await send(await loggedIn(), Buffer.concat([serialize.query('SELECT 7'), serialize.end()]), 8000, 100)
  t.same(slowQuery.errors, [], 'a slow but valid query is answered without error')
  t.ok(slowQuery.bytes > 0, 'and answered')
})

t.test('an idle client is disconnected after client_idle_timeout with 57P05', async (t) => {
  const outcome = await send(await loggedIn(), Buffer.alloc(0), 4000)
  t.ok(outcome.closedByServer)
  t.match(outcome.errors[0], { severity: 'FATAL', code: '57P05', message: /idle for more than 1000 ms/ })
})

t.test('without client_idle_timeout, a client quiet for longer than the handshake timeout keeps its connection', async (t) => {
  const patient = await greyInProcess('eu-west', { GREY_PROXY__LIMITS__HANDSHAKE_TIMEOUT: '300ms' })
  t.teardown(() => patient.stop())
  const client = await pgConnect(lab, patient.pg)
  const errors: Error[] = []
  client.on('error', (err) => errors.push(err))
  await new Promise((r) => setTimeout(r, 800))
  t.same((await client.query('SELECT 8 AS n')).rows, [{ n: 8 }])
  t.same(errors, [], 'no FATAL arrived while it was quiet')
  await client.end()
})

t.test('max_client_connections: the next client gets 53300, the others carry on', async (t) => {
  const small = await greyInProcess('eu-west', { GREY_PROXY__LIMITS__MAX_CLIENT_CONNECTIONS: '2' })
  t.teardown(() => small.stop())
  const [a, b] = [await pgConnect(lab, small.pg), await pgConnect(lab, small.pg)]
  await t.rejects(pgConnect(lab, small.pg), {
    code: '53300',
    message: /too many clients already \(proxy\.limits\.max_client_connections = 2\)/,
  })
  t.equal((await a.query<{ n: number }>('SELECT 1 AS n')).rows[0]!.n, 1)
  await b.end()
  // The freed slot is free again once the session is gone.
  for (let i = 0; i < 50; i++) {
    const c = await pgConnect(lab, small.pg).catch(() => null)
    if (c) {
      t.pass('a new client gets in after one left')
      await c.end()
      break
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  await a.end()
})

/** Sends `bytes` on a logged-in socket and collects the reply up to the next ReadyForQuery. */
async function roundTrip(socket: Socket, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0)
    const onData = (chunk: Buffer): void => {
      got = Buffer.concat([got, chunk])
      if (got.length < 6 || got[got.length - 6] !== 0x5a) return
      socket.off('data', onData)
      resolve(got)
    }
    socket.on('data', onData)
    socket.write(bytes)
  })
}

t.test('the unnamed statement parsed in one round trip is bound in the next (lib/pq, pgx), and routed by its text', async (t) => {
  const primary = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
  await primary.query('CREATE TABLE IF NOT EXISTS unnamed_statement_probe (n int)')
  await primary.end()
  const socket = await loggedIn()
  const parse = await roundTrip(
    socket,
    Buffer.concat([serialize.parse({ text: 'INSERT INTO unnamed_statement_probe VALUES ($1)', types: [23] }), serialize.sync()]),
  )
  t.same(errorsIn(parse), [], 'parsed')
  // Other statements between: a simple query replaces a server's unnamed statement, and transaction pooling may pick
  // another server for the next round trip.
  await roundTrip(socket, serialize.query('SELECT 1'))
  const bound = await roundTrip(
    socket,
    Buffer.concat([
      serialize.bind({ statement: '', values: ['7'] }),
      serialize.describe({ type: 'P', name: '' }),
      serialize.execute({ portal: '', rows: 0 }),
      serialize.sync(),
    ]),
  )
  t.same(errorsIn(bound), [], 'bound and executed: no "unnamed prepared statement does not exist", no read-only standby')
  t.ok(bound.includes(Buffer.from('INSERT 0 1\0')), 'INSERT 0 1')
  t.notOk(bound.includes(Buffer.from([0x31, 0, 0, 0, 4])), 'the re-issued ParseComplete is not relayed')
  socket.destroy()
})
