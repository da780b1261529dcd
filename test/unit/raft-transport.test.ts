// The Raft transport: node ids from names, HMAC frames, the wire codec, and two endpoints on loopback exchanging
// messages, refusing a peer with the wrong secret, replays and disorder, and queueing while a peer is away.
import t from 'tap'
import { once } from 'node:events'
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { HybridLogicalClock } from '../../src/clock/hlc.js'
import { encodeFrame, FrameDecoder, FRAME_HEADER_BYTES } from '../../src/consensus/raft-frame.js'
import { nodeIdCollision, raftNodeId } from '../../src/consensus/raft-node-id.js'
import { RaftTransport, type RaftTransportOptions } from '../../src/consensus/raft-transport.js'
import { decodeWireFrame, encodeWireFrame, type DeliveredPayload, type PeerPayload, type WireFrame } from '../../src/consensus/raft-wire.js'
import type { NodeId, RaftMessage } from '../../src/consensus/raft-message.js'
import { freePort } from '../fixtures/free-port.js'
import { monotonicMs } from '../../src/clock/monotonic-ms.js'

const SECRET = 'a-shared-secret-of-the-test-cluster'
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

async function until<T>(probe: () => T | undefined | null | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = probe()
    if (value !== undefined && value !== null && value !== false) return value
    if (Date.now() > deadline) throw new Error('timed out')
    await sleep(10)
  }
}

/** A pino logger whose lines land in `lines`. */
function capture(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>)
      done()
    },
  })
  return { log: pino({ level: 'debug' }, stream), lines }
}

interface Endpoint {
  transport: RaftTransport
  received: Array<{ from: NodeId; payload: DeliveredPayload }>
  clock: HybridLogicalClock
  lines: Array<Record<string, unknown>>
}

const addresses = new Map<NodeId, string>()

async function endpoint(name: string, options: Partial<RaftTransportOptions> = {}): Promise<Endpoint> {
  const received: Endpoint['received'] = []
  const clock = options.clock ?? new HybridLogicalClock()
  const { log, lines } = capture()
  const transport = new RaftTransport({
    self: { name, id: raftNodeId(name) },
    listen: { host: '127.0.0.1', port: 0 },
    secret: SECRET,
    log,
    addressOf: (id) => addresses.get(id) ?? null,
    receive: (from, payload) => void received.push({ from, payload }),
    backoffMs: { initial: 10, max: 80 },
    ...options,
    clock,
  })
  await transport.start()
  addresses.set(raftNodeId(name), transport.address)
  return { transport, received, clock, lines }
}

const heartbeat = (from: string, to: string, round = 1): PeerPayload => ({
  kind: 'raft',
  message: { type: 'heartbeat', from: raftNodeId(from), to: raftNodeId(to), term: 2, commit: 5, round },
})

t.test('node ids: a stable 32-bit FNV-1a hash of the name; collisions are found', (t) => {
  t.equal(raftNodeId('a'), 0xe40c292c, 'FNV-1a of "a"')
  t.equal(raftNodeId('grey-us-east'), raftNodeId('grey-us-east'))
  t.not(raftNodeId('grey-us-east'), raftNodeId('grey-eu-west'))
  t.equal(nodeIdCollision(['grey-us-east', 'grey-eu-west', 'grey-ap-south', 'grey-us-east']), null)
  // Found by a birthday search over grey-0, grey-1, …
  const pair = ['grey-319', 'grey-883734'] as const
  t.equal(raftNodeId(pair[0]), raftNodeId(pair[1]))
  t.same(nodeIdCollision(['x', ...pair]), pair)
  t.end()
})

t.test('frames: length, HMAC, body; split anywhere; a wrong MAC or a huge length ends the stream', (t) => {
  const a = encodeFrame(SECRET, Buffer.from('first'))
  const b = encodeFrame(SECRET, Buffer.from('second'))
  t.equal(a.length, FRAME_HEADER_BYTES + 5)
  const decoder = new FrameDecoder(SECRET)
  const got: string[] = []
  const errors: Array<string | null> = []
  for (const byte of Buffer.concat([a, b])) {
    const { frames, error } = decoder.push(Buffer.of(byte))
    errors.push(error)
    got.push(...frames.map((f) => f.toString()))
  }
  t.same(got, ['first', 'second'])
  t.ok(
    errors.every((e) => e === null),
    'fed one byte at a time',
  )
  const forged = new FrameDecoder(SECRET).push(Buffer.concat([a, encodeFrame('another-secret-entirely', Buffer.from('x'))]))
  t.same(forged.frames.map(String), ['first'], 'frames before the bad one still count')
  t.match(forged.error, /HMAC does not match/)
  const tooBig = new FrameDecoder(SECRET, 10)
  t.match(tooBig.push(encodeFrame(SECRET, Buffer.alloc(11))).error, /a frame of 11 bytes \(at most 10\)/)
  t.match(tooBig.push(a).error, /already failed/)
  t.end()
})

t.test('wire bodies round-trip, bytes in base64; anything else is refused with a reason', (t) => {
  const hlc = { wallMs: 1_700_000_000_000, logical: 3 }
  const messages: RaftMessage[] = [
    { type: 'pre-vote', from: 1, to: 2, term: 3, lastIndex: 4, lastTerm: 2 },
    { type: 'vote', from: 1, to: 2, term: 4, lastIndex: 4, lastTerm: 2, transfer: true },
    { type: 'timeout-now', from: 2, to: 1, term: 3 },
    { type: 'vote-response', from: 2, to: 1, term: 3, reject: false },
    {
      type: 'append',
      from: 1,
      to: 2,
      term: 3,
      prevIndex: 4,
      prevTerm: 2,
      commit: 4,
      entries: [{ index: 5, term: 3, kind: 'command', data: Uint8Array.of(1, 2, 250) }],
    },
    { type: 'append-response', from: 2, to: 1, term: 3, index: 5, reject: true, rejectHint: 3, hintTerm: 1 },
    { type: 'heartbeat', from: 1, to: 2, term: 3, commit: 5, round: 9 },
    { type: 'heartbeat-response', from: 2, to: 1, term: 3, round: 9 },
    {
      type: 'snapshot',
      from: 1,
      to: 2,
      term: 3,
      snapshot: { index: 5, term: 3, config: { voters: [1, 2], learners: [7] }, data: Uint8Array.of(9) },
    },
  ]
  const bodies: WireFrame['body'][] = [
    { kind: 'hello', from: 'grey-us-east', nodeId: raftNodeId('grey-us-east'), connection: '00112233445566778899aabb', sentAtMs: 1 },
    ...messages.map((message): PeerPayload => ({ kind: 'raft', message })),
    { kind: 'forward', requestId: 4, entry: { kind: 'command', data: Buffer.from('{"type":"x"}') }, timeoutMs: 500 },
    { kind: 'forward-result', requestId: 4, outcome: { status: 'applied', index: 9, error: null } },
    { kind: 'forward-result', requestId: 5, outcome: { status: 'not-leader', leaderId: null } },
    { kind: 'forward-result', requestId: 6, outcome: { status: 'unknown', error: 'timeout' } },
    { kind: 'ping' },
  ]
  bodies.forEach((body, i) => {
    const decoded = decodeWireFrame(encodeWireFrame({ seq: i + 1, hlc, body }))
    t.same(decoded, { seq: i + 1, hlc, body }, body.kind)
  })
  t.match(decodeWireFrame(Buffer.from('{')), /not JSON/)
  t.match(decodeWireFrame(Buffer.from('{"seq":1,"hlc":"0000000000000001","body":{"kind":"gossip"}}')), /unknown shape \(body.kind/)
  t.match(
    decodeWireFrame(Buffer.from('{"seq":1,"hlc":"XYZ","body":{"kind":"raft","message":messages}}'.replace('messages', '{}'))),
    /unknown shape/,
  )
  t.match(
    decodeWireFrame(
      Buffer.from(
        JSON.stringify({
          seq: 1,
          hlc: 'nothex',
          body: { kind: 'forward-result', requestId: 1, outcome: { status: 'refused', error: 'x' } },
        }),
      ),
    ),
    /malformed HLC/,
  )
  t.end()
})

t.test('two endpoints on loopback exchange messages and merge each other’s HLC', async (t) => {
  const a = await endpoint('node-a')
  const b = await endpoint('node-b')
  t.teardown(async () => {
    await a.transport.close()
    await b.transport.close()
  })
  const aheadMs = 200
  const fastClock = new HybridLogicalClock({ physicalClock: () => Date.now() + aheadMs })
  const c = await endpoint('node-c', { clock: fastClock })
  t.teardown(() => c.transport.close())
  a.transport.send(raftNodeId('node-b'), heartbeat('node-a', 'node-b', 1))
  a.transport.send(raftNodeId('node-b'), heartbeat('node-a', 'node-b', 2))
  await until(() => b.received.length === 2)
  t.same(
    b.received.map((r) => [r.from, r.payload.kind === 'raft' && r.payload.message.type === 'heartbeat' ? r.payload.message.round : -1]),
    [
      [raftNodeId('node-a'), 1],
      [raftNodeId('node-a'), 2],
    ],
    'in order, from the caller named in the hello',
  )
  b.transport.send(raftNodeId('node-a'), { kind: 'forward-result', requestId: 1, outcome: { status: 'refused', error: 'no' } })
  await until(() => a.received.length === 1)
  const contact = b.transport.lastContact(raftNodeId('node-a')) ?? -Infinity
  t.ok(contact > monotonicMs() - 5000 && contact <= monotonicMs(), 'last contact recorded, on the monotonic clock')
  t.equal(b.transport.lastContact(raftNodeId('node-x')), null)

  const before = Date.now()
  c.transport.send(raftNodeId('node-b'), heartbeat('node-c', 'node-b'))
  await until(() => b.received.length === 3)
  t.ok(b.clock.last.wallMs >= before + aheadMs - 5, 'the receiver’s HLC moved up to the sender’s stamp')
})

t.test('a peer with the wrong secret is refused, logged once, and never delivered', async (t) => {
  const b = await endpoint('node-b2')
  const intruder = await endpoint('intruder', { secret: 'not-the-cluster-secret-at-all' })
  t.teardown(async () => {
    await b.transport.close()
    await intruder.transport.close()
  })
  intruder.transport.send(raftNodeId('node-b2'), heartbeat('intruder', 'node-b2'))
  // It reconnects with backoff and tries again; the receiver keeps refusing and logs once a minute.
  await until(() => b.lines.some((l) => l.msg === 'raft connection refused'))
  await sleep(300)
  intruder.transport.send(raftNodeId('node-b2'), heartbeat('intruder', 'node-b2', 2))
  await sleep(200)
  t.same(b.received, [])
  const warnings = b.lines.filter((l) => l.msg === 'raft connection refused')
  t.equal(warnings.length, 1, 'one warning per remote host per minute')
  t.match(warnings[0], { level: 40, remote: '127.0.0.1', reason: /HMAC does not match/ })
})

t.test('replays, disorder, impostors and garbage close the connection', async (t) => {
  // Every refusal logs here, so that each case shows its reason.
  const b = await endpoint('node-b3', { warnIntervalMs: 0 })
  t.teardown(() => b.transport.close())
  const { host, port } = { host: '127.0.0.1', port: Number(b.transport.address.split(':')[1]) }
  const hlc = { wallMs: Date.now(), logical: 0 }
  const hello = (fields: Partial<{ from: string; nodeId: number; connection: string; sentAtMs: number }> = {}): WireFrame['body'] => ({
    kind: 'hello',
    from: 'node-z',
    nodeId: raftNodeId('node-z'),
    connection: 'abcdefabcdefabcdefabcdef',
    sentAtMs: Date.now(),
    ...fields,
  })
  const frame = (seq: number, body: WireFrame['body']): Buffer => encodeFrame(SECRET, encodeWireFrame({ seq, hlc, body }))
  async function attempt(...frames: Buffer[]): Promise<string> {
    const socket: Socket = createConnection({ host, port })
    await once(socket, 'connect')
    socket.on('error', () => undefined)
    for (const f of frames) socket.write(f)
    const before = b.lines.length
    await once(socket, 'close')
    const line = await until(() => b.lines.slice(before).find((l) => l.msg === 'raft connection refused'))
    return String(line.reason)
  }
  const reasons: string[] = []
  const cases: Buffer[][] = [
    [frame(1, heartbeat('node-z', 'node-b3'))],
    [frame(2, hello())],
    [frame(1, hello({ nodeId: 12345 }))],
    [frame(1, hello({ sentAtMs: Date.now() - 3_600_000 }))],
    [frame(1, hello({ connection: 'aaaaaaaaaaaaaaaaaaaaaaaa' })), frame(2, hello({ connection: 'bbbbbbbbbbbbbbbbbbbbbbbb' }))],
    [frame(1, hello({ connection: 'aaaaaaaaaaaaaaaaaaaaaaaa' }))],
    [frame(1, hello({ connection: 'cccccccccccccccccccccccc' })), frame(3, heartbeat('node-z', 'node-b3'))],
    [encodeFrame(SECRET, Buffer.from('not json'))],
  ]
  for (const c of cases) reasons.push(await attempt(...c))
  t.match(reasons, [
    /a raft frame before the hello/,
    /frame 2 after 0/,
    /calls itself 12345/,
    /s from now/,
    /a second hello/,
    /a connection id seen before/,
    /frame 3 after 1/,
    /not JSON/,
  ])
  t.same(b.received, [], 'nothing was delivered')
})

t.test('queued while the peer is away, delivered when it comes; the queue is bounded', async (t) => {
  const port = await freePort()
  const a = await endpoint('node-a4', { queueLimit: 3 })
  t.teardown(() => a.transport.close())
  addresses.set(raftNodeId('node-b4'), `127.0.0.1:${port}`)
  for (let round = 1; round <= 5; round++) a.transport.send(raftNodeId('node-b4'), heartbeat('node-a4', 'node-b4', round))
  t.equal(a.transport.droppedFrames(), 2, 'the two oldest were dropped')
  await sleep(100)
  const b = await endpoint('node-b4', { listen: { host: '127.0.0.1', port } })
  t.teardown(() => b.transport.close())
  await until(() => b.received.length === 3, 3000)
  t.same(
    b.received.map((r) => (r.payload.kind === 'raft' && r.payload.message.type === 'heartbeat' ? r.payload.message.round : 0)),
    [3, 4, 5],
  )
  // The peer restarts: the link notices, reconnects and goes on.
  await b.transport.close()
  const b2 = await endpoint('node-b4', { listen: { host: '127.0.0.1', port } })
  t.teardown(() => b2.transport.close())
  await until(async () => {
    a.transport.send(raftNodeId('node-b4'), heartbeat('node-a4', 'node-b4', 9))
    return b2.received.length > 0
  })
  t.pass('reconnected after the peer restarted')

  a.transport.send(4242, heartbeat('node-a4', 'nobody'))
  t.equal(a.transport.droppedFrames(), 3, 'a peer without an address drops its frames')
  await a.transport.close()
  a.transport.send(raftNodeId('node-b4'), heartbeat('node-a4', 'node-b4'))
  await a.transport.close()
})

t.test('a connection that stops draining is dropped and reopened', async (t) => {
  const sockets: Socket[] = []
  const sink = createServer((s) => {
    s.pause()
    sockets.push(s)
  })
  sink.listen(0, '127.0.0.1')
  await once(sink, 'listening')
  addresses.set(raftNodeId('sink'), `127.0.0.1:${(sink.address() as AddressInfo).port}`)
  const a = await endpoint('node-a5')
  t.teardown(async () => {
    await a.transport.close()
    for (const s of sockets) s.destroy()
    sink.close()
  })
  const big: PeerPayload = { kind: 'forward', requestId: 1, entry: { kind: 'command', data: Buffer.alloc(12 * 1024 * 1024) }, timeoutMs: 1 }
  a.transport.send(raftNodeId('sink'), heartbeat('node-a5', 'sink'))
  await until(() => sockets.length === 1)
  a.transport.send(raftNodeId('sink'), big)
  await until(() => a.lines.some((l) => l.msg === 'raft connection stalled; reopening it'))
  await until(() => sockets.length === 2)
  t.pass('reopened')
})

t.test('idle links ping, so that last contact stays fresh without Raft traffic', async (t) => {
  const a = await endpoint('node-a6', { keepaliveMs: 20 })
  const b = await endpoint('node-b6', { keepaliveMs: 20 })
  t.teardown(async () => {
    await a.transport.close()
    await b.transport.close()
  })
  a.transport.connect(raftNodeId('node-b6'))
  a.transport.connect(raftNodeId('node-b6'))
  const first = await until(() => b.transport.lastContact(raftNodeId('node-a6')))
  await until(() => (b.transport.lastContact(raftNodeId('node-a6')) ?? 0) > first + 30)
  t.same(b.received, [], 'pings are not handed on')
})
