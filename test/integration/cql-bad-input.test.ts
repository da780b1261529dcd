// Bad input against Grey's CQL front end, in front of the test lab's real Cassandra: a seeded fuzzer
// (random bytes, mutated valid frames, unknown opcodes, bad lengths), stream-id abuse, a slow
// sender, and the limits. Invariants: a connection Grey closes got an ERROR frame first; the process
// and a bystander application carry on. Replay: GREY_FUZZ_SEED=<n>.
import { once } from 'node:events'
import type { Socket } from 'node:net'
import t from 'tap'
import fc from 'fast-check'
import cassandra from 'cassandra-driver'
import { encodeRequest } from '../../src/cql/protocol/encode-request.js'
import { greyInProcess } from '../fixtures/grey-in-process.js'
import { rawConnect, sendAndWatch } from '../fixtures/raw-client.js'
import { ensureTestLab, type LabJson } from '../fixtures/test-lab.js'

const lab: LabJson = await ensureTestLab({ cassandra: true })
const seed = Number(process.env.GREY_FUZZ_SEED ?? Date.now() % 100_000)
t.comment(`fuzz seed ${seed} (replay: GREY_FUZZ_SEED=${seed} npx tap test/integration/cql-bad-input.test.ts)`)
const grey = await greyInProcess(
  'us-east',
  {
    GREY_PROXY__LIMITS__MAX_MESSAGE_SIZE: '65536',
    GREY_PROXY__LIMITS__MAX_STREAMS_PER_CLIENT: '8',
    GREY_PROXY__LIMITS__HANDSHAKE_TIMEOUT: '1s',
  },
  { cql: true },
)
t.teardown(() => grey.stop())
const login = Buffer.from(`\0${lab.pg.user}\0${lab.pg.password}`)
const query = (text: string, stream: number): Buffer =>
  encodeRequest({ type: 'QUERY', query: text, parameters: { consistency: 1, skipMetadata: false } }, stream)

interface Outcome {
  /** The opcode and error code of every whole response frame. */
  frames: { stream: number; opcode: number; code?: number; message?: string }[]
  closedByServer: boolean
}

function framesIn(bytes: Buffer): Outcome['frames'] {
  const frames: Outcome['frames'] = []
  for (let at = 0; at + 9 <= bytes.length;) {
    const length = bytes.readInt32BE(at + 5)
    if (at + 9 + length > bytes.length) break
    const frame: Outcome['frames'][number] = { stream: bytes.readInt16BE(at + 2), opcode: bytes[at + 4]! }
    if (frame.opcode === 0x00) {
      frame.code = bytes.readInt32BE(at + 9)
      frame.message = bytes.subarray(at + 15, at + 15 + bytes.readUInt16BE(at + 13)).toString('utf8')
    }
    frames.push(frame)
    at += 9 + length
  }
  return frames
}

const connect = (): Promise<Socket> => rawConnect(grey.cql)

async function send(socket: Socket, bytes: Buffer, waitMs: number, paceMs = 0): Promise<Outcome> {
  const { reply, closedByServer } = await sendAndWatch(socket, bytes, waitMs, paceMs)
  return { frames: framesIn(reply), closedByServer }
}

/** STARTUP and SASL PLAIN, waiting for each answer. */
async function loggedIn(): Promise<Socket> {
  const socket = await connect()
  let got = Buffer.alloc(0)
  const until = (opcode: number): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (framesIn(got).some((f) => f.opcode === opcode)) {
          socket.off('data', onData)
          resolve()
        }
      }
      const onData = (d: Buffer): void => {
        got = Buffer.concat([got, d])
        check()
      }
      socket.on('data', onData)
    })
  socket.write(encodeRequest({ type: 'STARTUP', options: new Map([['CQL_VERSION', '3.0.0']]) }, 1))
  await until(0x03)
  socket.write(encodeRequest({ type: 'AUTH_RESPONSE', token: login }, 2))
  await until(0x10)
  return socket
}

const app = new cassandra.Client({
  contactPoints: [grey.cql],
  localDataCenter: 'us-east',
  credentials: { username: lab.pg.user, password: lab.pg.password },
  keyspace: 'grey_lab',
})
await app.connect()
t.teardown(() => app.shutdown())
await app.execute('CREATE TABLE IF NOT EXISTS fuzz_kv (k int PRIMARY KEY, v int)')

const VALID: Buffer[] = [
  query('SELECT k FROM grey_lab.fuzz_kv LIMIT 1', 3),
  encodeRequest({ type: 'PREPARE', query: 'SELECT v FROM grey_lab.fuzz_kv WHERE k = ?' }, 4),
  encodeRequest(
    {
      type: 'EXECUTE',
      id: Buffer.alloc(16, 7),
      parameters: { consistency: 6, skipMetadata: false, values: [Buffer.from('00000001', 'hex')] },
    },
    5,
  ),
  encodeRequest(
    {
      type: 'BATCH',
      batchType: 1,
      statements: [{ kind: 'query', query: 'INSERT INTO grey_lab.fuzz_kv (k, v) VALUES (1, 1)', values: [] }],
      consistency: 1,
    },
    6,
  ),
  encodeRequest({ type: 'OPTIONS' }, 7),
  encodeRequest({ type: 'REGISTER', events: ['SCHEMA_CHANGE'] }, 8),
]

type Case = { kind: 'random-before-startup' | 'random-after-login' | 'mutated'; bytes: Buffer }
const caseArbitrary: fc.Arbitrary<Case> = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 80 }).map((b) => ({ kind: 'random-before-startup' as const, bytes: Buffer.from(b) })),
  fc.uint8Array({ minLength: 1, maxLength: 120 }).map((b) => ({ kind: 'random-after-login' as const, bytes: Buffer.from(b) })),
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

t.test('fuzzed frames: ERROR before every close; the process and the application carry on', async (t) => {
  const cases = fc.sample(caseArbitrary, { seed, numRuns: 200 })
  let running = true
  let answered = 0
  const failures: string[] = []
  const bystander = (async () => {
    for (let i = 0; running; i++) {
      try {
        await app.execute('INSERT INTO fuzz_kv (k, v) VALUES (?, ?)', [i % 10, i], { prepare: true })
        const r = await app.execute('SELECT v FROM fuzz_kv WHERE k = ?', [i % 10], { prepare: true })
        if (r.first()?.get('v') === i) answered++
        else failures.push(`read ${String(r.first()?.get('v'))} after writing ${i}`)
      } catch (err) {
        failures.push((err as Error).message)
      }
    }
  })()
  const started = Date.now()
  const tally = { errorThenClose: 0, stillOpen: 0, silentClose: 0, protocolErrors: 0 }
  const bad: string[] = []
  for (let i = 0; i < cases.length; i += 20) {
    const outcomes = await Promise.all(
      cases.slice(i, i + 20).map(async (c) => ({
        c,
        outcome: await send(c.kind === 'random-before-startup' ? await connect() : await loggedIn(), c.bytes, 1500),
      })),
    )
    for (const { c, outcome } of outcomes) {
      const error = outcome.frames.find((f) => f.opcode === 0x00)
      if (outcome.closedByServer && !error) {
        tally.silentClose++
        bad.push(`${c.kind} ${c.bytes.toString('hex')}: closed without an ERROR frame`)
      } else if (outcome.closedByServer) tally.errorThenClose++
      else tally.stillOpen++
      if (outcome.closedByServer && error?.code === 0x000a) tally.protocolErrors++
    }
  }
  running = false
  await bystander
  t.comment(`fuzz: ${cases.length} cases in ${Date.now() - started} ms: ${JSON.stringify(tally)}`)
  t.same(bad, [], 'every connection Grey closed got an ERROR frame first')
  t.ok(tally.protocolErrors > cases.length / 4, `many were protocol errors (${tally.protocolErrors})`)
  t.ok(answered > 10, `the application ran throughout (${answered} checked round trips)`)
  t.same(failures, [], 'and saw no error and no wrong answer')
})

t.test('a stream id reused while its request is in flight is a protocol error', async (t) => {
  const socket = await loggedIn()
  const outcome = await send(
    socket,
    Buffer.concat([query('SELECT * FROM system_schema.tables', 9), query('SELECT 1 FROM system.local', 9)]),
    3000,
  )
  t.ok(outcome.closedByServer)
  t.match(
    outcome.frames.find((f) => f.opcode === 0x00),
    { stream: 9, code: 0x000a, message: /stream 9 is already in use/ },
  )
})

t.test('more requests in flight than max_streams_per_client: the excess gets Overloaded, the rest are answered', async (t) => {
  const socket = await loggedIn()
  const burst = Buffer.concat(Array.from({ length: 10 }, (_, i) => query('SELECT * FROM system_schema.columns', 10 + i)))
  const outcome = await send(socket, burst, 3000)
  const overloaded = outcome.frames.filter((f) => f.opcode === 0x00 && f.code === 0x1001)
  t.equal(overloaded.length, 2, 'two over the limit of 8')
  t.match(overloaded[0]?.message, /more than 8 requests in flight/)
  t.equal(outcome.frames.filter((f) => f.opcode === 0x08).length, 8, 'the other eight got their results')
  t.notOk(outcome.closedByServer, 'and the connection stays open')
})

t.test('a frame over the size limit is refused on its stream; the connection goes on', async (t) => {
  const socket = await loggedIn()
  const big = query(`SELECT k FROM grey_lab.fuzz_kv WHERE k IN (${'1,'.repeat(40_000)}1)`, 30)
  const outcome = await send(socket, Buffer.concat([big, query('SELECT k FROM grey_lab.fuzz_kv LIMIT 1', 31)]), 2000)
  t.match(
    outcome.frames.find((f) => f.stream === 30),
    { opcode: 0x00, code: 0x2200, message: /Request is too big: length \d+ exceeds maximum allowed length 65536/ },
  )
  t.match(
    outcome.frames.find((f) => f.stream === 31),
    { opcode: 0x08 },
    'the next request is answered',
  )
})

t.test('unsupported versions get the downgrade error; a slow sender is cut off at the handshake timeout', async (t) => {
  for (const version of [0x05, 0x42, 0x01]) {
    const outcome = await send(await connect(), Buffer.from([version, 0x00, 0x00, 0x00, 0x05, 0, 0, 0, 0]), 2000)
    t.match(outcome.frames[0], { opcode: 0x00, code: 0x000a, message: `Invalid or unsupported protocol version (${version})` })
  }
  const slow = await send(await connect(), encodeRequest({ type: 'STARTUP', options: new Map([['CQL_VERSION', '3.0.0']]) }, 1), 4000, 200)
  t.ok(slow.closedByServer, 'closed')
  t.match(
    slow.frames.find((f) => f.opcode === 0x00),
    { code: 0x000a, message: /did not finish start-up within 1000 ms/ },
  )
  t.equal((await app.execute('SELECT k FROM fuzz_kv LIMIT 1')).rowLength, 1, 'the application carries on')
})

t.test('max_client_connections bounds CQL clients too', async (t) => {
  const small = await greyInProcess('us-east', { GREY_PROXY__LIMITS__MAX_CLIENT_CONNECTIONS: '1' }, { cql: true })
  t.teardown(() => small.stop())
  const first = await rawConnect(small.cql)
  const second = await rawConnect(small.cql)
  const closed = await Promise.race([once(second, 'close').then(() => true), new Promise((r) => setTimeout(() => r(false), 2000))])
  t.ok(closed, 'the second connection is closed at once')
  first.destroy()
})
