import t from 'tap'
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import { mkdtempSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { pino } from 'pino'
import { WanEmulator, type WanPlan } from '../../src/lab/wan/wan-emulator.js'
import { freePort } from '../fixtures/free-port.js'

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/** An echo server standing for a backend in eu-west. */
async function echoServer(): Promise<Server> {
  const server = createServer((s) => s.pipe(s))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}

/** Sends `text` and resolves with the ms until the echo came back, or null after `timeoutMs`. */
function echoMs(socket: Socket, text: string, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve) => {
    const t0 = Date.now()
    let got = ''
    const onData = (d: Buffer): void => {
      got += d.toString('latin1')
      if (got.includes(text)) finish(Date.now() - t0)
    }
    const timer = setTimeout(() => finish(null), timeoutMs)
    const finish = (v: number | null): void => {
      clearTimeout(timer)
      socket.off('data', onData)
      resolve(v)
    }
    socket.on('data', onData)
    socket.write(Buffer.from(text, 'latin1'))
  })
}

async function connect(port: number): Promise<Socket> {
  const s = createConnection({ host: '127.0.0.1', port })
  await once(s, 'connect')
  return s
}

const echo = await echoServer()
const target = { host: '127.0.0.1', port: (echo.address() as AddressInfo).port }
const plan: WanPlan = {
  relays: [
    { name: 'us-east→eu-west test', listen: { host: '127.0.0.1', port: await freePort() }, target, from: 'us-east', to: 'eu-west' },
    { name: 'us-east→ap-south test', listen: { host: '127.0.0.1', port: await freePort() }, target, from: 'us-east', to: 'ap-south' },
    // A shared relay that tells the caller's region by its source address (Cassandra internode).
    { name: '*→ap-south test', listen: { host: '127.0.0.1', port: await freePort() }, target, from: null, to: 'ap-south' },
  ],
  cassandraPeers: { '127.21.2.2': 'eu-west' },
  jitterMs: 0,
  control: { host: '127.0.0.1', port: await freePort() },
  statePath: join(mkdtempSync(join(tmpdir(), 'grey-wan-')), 'wan-state.json'),
  regions: ['us-east', 'eu-west', 'ap-south'],
}
const wan = new WanEmulator(plan, pino({ level: 'silent' }))
await wan.start()
const [euRelay, apRelay, sharedRelay] = plan.relays.map((r) => r.listen.port) as [number, number, number]
const control = `http://127.0.0.1:${plan.control.port}`
t.teardown(async () => {
  await wan.close()
  echo.close()
})

/** The first bytes of a Cassandra internode connection from 127.21.2.2:7000 (eu-west's broadcast address). */
const EU_WEST_HANDSHAKE = Buffer.from('ca552dfa0d0c0c05067f1502021b58', 'hex').toString('latin1')

t.test('a round trip through a relay takes twice the one-way delay', async (t) => {
  for (const [port, oneWay] of [
    [euRelay, 40],
    [apRelay, 90],
    [sharedRelay, 75],
  ] as const) {
    const s = await connect(port)
    // The shared relay learns the caller (eu-west → ap-south: 75 ms) from the handshake.
    const first = await echoMs(s, port === sharedRelay ? EU_WEST_HANDSHAKE : 'warm-up', 6000)
    const rtt = await echoMs(s, 'ping', 2000)
    s.destroy()
    t.ok(first !== null && rtt !== null && rtt >= 2 * oneWay && rtt < 2 * oneWay + 30, `relay with one-way ${oneWay} ms: rtt ${rtt} ms`)
  }
})

t.test('a shared relay whose caller does not name itself relays without delay', async (t) => {
  const s = await connect(sharedRelay)
  const first = await echoMs(s, 'not a cassandra handshake', 2000)
  const rtt = await echoMs(s, 'ping', 2000)
  s.destroy()
  t.ok(first !== null && rtt !== null && rtt < 20, `rtt ${rtt} ms`)
})

t.test('bytes arrive in order and complete, even in many small writes', async (t) => {
  const s = await connect(euRelay)
  const parts = Array.from({ length: 500 }, (_, i) => `${i},`)
  let got = ''
  s.on('data', (d: Buffer) => (got += d.toString()))
  for (const p of parts) s.write(p)
  const want = parts.join('')
  const deadline = Date.now() + 3000
  while (got.length < want.length && Date.now() < deadline) await sleep(10)
  s.destroy()
  t.equal(got, want)
})

t.test('a partition makes links hang, not fail; heal delivers what was held', async (t) => {
  const before = await connect(apRelay)
  t.not(await echoMs(before, 'before', 1000), null, 'the link works before the partition')

  const res = await fetch(`${control}/partition/ap-south`, { method: 'POST' })
  t.same(((await res.json()) as { partitioned: string[] }).partitioned, ['ap-south'])

  const pending = echoMs(before, 'held', 3000)
  const fresh = await connect(apRelay)
  const freshPending = echoMs(fresh, 'new', 3000)
  let closed = false
  fresh.on('close', () => (closed = true))
  await sleep(600)
  t.equal(closed, false, 'a new connection across the cut is accepted and hangs, not refused')
  const other = await connect(euRelay)
  t.not(await echoMs(other, 'unaffected', 1000), null, 'links between other regions keep working')

  const healedAt = Date.now()
  await fetch(`${control}/heal`, { method: 'POST' })
  t.not(await pending, null, 'data held on an existing connection arrives after heal')
  t.not(await freshPending, null, 'the held connection goes through after heal')
  t.ok(Date.now() - healedAt < 1000, 'promptly')
  for (const s of [before, fresh, other]) s.destroy()
})

t.test('the control port refuses unknown regions and paths', async (t) => {
  const bad = await fetch(`${control}/partition/mars`, { method: 'POST' })
  t.equal(bad.status, 404)
  t.match(((await bad.json()) as { error: string }).error, /unknown region "mars"/)
  const none = await fetch(`${control}/nothing`)
  t.equal(none.status, 404)
  t.equal(wan.state().relays.length, 3)
})

t.test('partitions survive a restart of the emulator (kept in its state file)', async (t) => {
  wan.partition('eu-west')
  const again = new WanEmulator(plan, pino({ level: 'silent' }))
  t.ok(again.isCut('us-east', 'eu-west'))
  t.notOk(again.isCut('us-east', 'ap-south'))
  wan.heal('eu-west')
  t.notOk(new WanEmulator(plan, pino({ level: 'silent' })).isCut('us-east', 'eu-west'))
})

t.test('a refused upstream closes the client after the one-way delay', async (t) => {
  const deadPort = await freePort()
  const deadPlan: WanPlan = {
    ...plan,
    relays: [
      {
        name: 'dead',
        listen: { host: '127.0.0.1', port: await freePort() },
        target: { host: '127.0.0.1', port: deadPort },
        from: 'us-east',
        to: 'eu-west',
      },
    ],
    control: { host: '127.0.0.1', port: await freePort() },
  }
  const deadWan = new WanEmulator(deadPlan, pino({ level: 'silent' }))
  await deadWan.start()
  const s = await connect(deadPlan.relays[0]!.listen.port)
  s.on('error', () => undefined)
  const t0 = Date.now()
  await once(s, 'close')
  const ms = Date.now() - t0
  t.ok(ms >= 40 + 40 - 5, `closed after ${ms} ms (SYN and RST each cross the 40 ms link)`)
  await deadWan.close()
})
