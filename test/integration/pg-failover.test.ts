// PostgreSQL failover on a lab of its own (slot 2, without Cassandra: a failover leaves its topology changed): three
// Greys run in this process (so their code is measured), configured as the lab configures its own and joined by Raft,
// check the primary; kill -9 of the us-east PostgreSQL must end with the eu-west
// synchronous standby promoted through the Raft log, writes through Grey flowing to it, and every write that was
// acknowledged before, during and after present on the new primary. Writers in eu-west and ap-south write through their
// Greys all along; write unavailability is measured from the kill to the first write acknowledged after it.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { callAdmin } from '../../src/cli/cluster-command.js'
import { hostPort } from '../../src/config/host-port.js'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { freePort } from '../fixtures/free-port.js'
import { greyInProcess, run, type GreyInProcess } from '../fixtures/grey-in-process.js'
import { GREY, ROOT, type LabJson } from '../fixtures/test-lab.js'

const SLOT = Number(process.env.GREY_FAILOVER_LAB_SLOT ?? 2)
const DIR = join(ROOT, '.lab-failover')
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

function lab(...args: string[]): string {
  const r = spawnSync(process.execPath, [GREY, 'lab', ...args, '--dir', DIR], { encoding: 'utf8', cwd: ROOT, timeout: 600_000 })
  if (r.status !== 0) throw new Error(`grey lab ${args.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

lab('up', '--slot', String(SLOT), '--without', 'cassandra,grey')
const labJson = JSON.parse(readFileSync(join(DIR, 'lab.json'), 'utf8')) as LabJson
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const raftPorts = Object.fromEntries(await Promise.all(REGIONS.map(async (r) => [r, await freePort()] as const)))
const peers = REGIONS.map((r) => `{id: failover-${r}, address: "127.0.0.1:${raftPorts[r]}", region: ${r}}`).join(', ')
const raftDir = mkdtempSync(join(tmpdir(), 'grey-failover-raft-'))
const greys = Object.fromEntries(
  await Promise.all(
    REGIONS.map(
      async (r) =>
        [
          r,
          await greyInProcess(
            r,
            {
              GREY_CONSENSUS__RAFT__PEERS: `[${peers}]`,
              GREY_CONSENSUS__RAFT__NODE_ID: `failover-${r}`,
              GREY_CONSENSUS__RAFT__LISTEN: `127.0.0.1:${raftPorts[r]}`,
              GREY_CONSENSUS__RAFT__DATA_DIR: join(raftDir, r),
              GREY_CONSENSUS__RAFT__SECRET: 'pg-failover-test-secret',
            },
            { lab: { dir: DIR, slot: SLOT } },
          ),
        ] as const,
    ),
  ),
) as Record<(typeof REGIONS)[number], GreyInProcess>
t.teardown(async () => {
  await Promise.all(Object.values(greys).map((g) => g.stop()))
  lab('down')
  rmSync(DIR, { recursive: true, force: true })
  rmSync(raftDir, { recursive: true, force: true })
})

async function connect(address: string): Promise<pg.Client> {
  const { host, port } = hostPort(address)
  const client = new pg.Client({ host, port, ...labJson.pg, connectionTimeoutMillis: 10_000 })
  client.on('error', () => undefined)
  await client.connect()
  return client
}

interface Status {
  raft: { leader: string | null } | null
  cluster: { pg_primary?: { region: string; epoch: number } } & Record<string, unknown>
}
const status = async (region: (typeof REGIONS)[number]): Promise<Status> =>
  (await callAdmin({ url: greys[region].admin, token: labJson.admin.token }, 'GET', '/status')) as unknown as Status

// A Raft leader among the lab's Greys, and the table the writers use.
for (const deadline = Date.now() + 30_000; !(await status('eu-west')).raft?.leader; await sleep(200)) {
  if (Date.now() > deadline) throw new Error('no Raft leader among the lab Greys')
}
const setup = await connect(labJson.regions['us-east']!.pg.direct)
await setup.query('CREATE TABLE IF NOT EXISTS failover_acks (writer text, n int, PRIMARY KEY (writer, n))')
await setup.end()

interface Writer {
  name: string
  acked: number[]
  /** Times (ms) of acknowledged writes, and of failed ones with their SQLSTATE. */
  okAt: number[]
  errors: { at: number; code: string; message: string }[]
}

/** Inserts (writer, n) for n = 1, 2, … through `region`'s Grey, one at a time, reconnecting after an error. */
function startWriter(region: (typeof REGIONS)[number], stop: () => boolean): { writer: Writer; done: Promise<void> } {
  const writer: Writer = { name: `w-${region}`, acked: [], okAt: [], errors: [] }
  const done = (async () => {
    let client: pg.Client | null = null
    for (let n = 1; !stop(); n++) {
      try {
        client ??= await connect(greys[region].pg)
        await client.query('INSERT INTO failover_acks (writer, n) VALUES ($1, $2)', [writer.name, n])
        writer.acked.push(n)
        writer.okAt.push(Date.now())
      } catch (err) {
        const e = err as { code?: string; message: string }
        writer.errors.push({ at: Date.now(), code: e.code ?? 'connection', message: e.message })
        await client?.end().catch(() => undefined)
        client = null
        await sleep(50)
      }
    }
    await client?.end().catch(() => undefined)
  })()
  return { writer, done }
}

t.test('kill -9 of the primary PostgreSQL: the synchronous standby is promoted, no acknowledged write is lost', async (t) => {
  let stopping = false
  const writers = (['eu-west', 'ap-south'] as const).map((r) => startWriter(r, () => stopping))
  await sleep(2000)
  const killStartedAt = Date.now()
  // Not spawnSync: the Greys share this event loop.
  const killed = await run(process.execPath, [GREY, 'lab', 'kill', 'pg:us-east', '--dir', DIR])
  if (killed.status !== 0) throw new Error(`grey lab kill failed: ${killed.stderr}`)
  // The primary is certainly dead once the command returns (it takes about a second: a node start and pg_ctl).
  const killedAt = Date.now()
  t.comment(`kill took ${killedAt - killStartedAt} ms`)
  // Writes flow again once each writer has an acknowledgement after the kill.
  for (const deadline = Date.now() + 30_000; ; await sleep(50)) {
    if (writers.every(({ writer }) => writer.okAt.filter((at) => at > killedAt).length >= 3)) break
    if (Date.now() > deadline) {
      stopping = true
      await Promise.all(writers.map((w) => w.done))
      throw new Error(`writes did not resume: ${JSON.stringify(writers.map((w) => w.writer.errors.slice(-3)))}`)
    }
  }
  await sleep(1000)
  stopping = true
  await Promise.all(writers.map((w) => w.done))

  const view = (await status('ap-south')).cluster
  t.match(view, { pg_primary: { region: 'eu-west', epoch: 1 } }, 'the Raft log names eu-west the primary, epoch 1')
  // Write unavailability: the longest wait between two acknowledged writes of a writer around the kill (a write in
  // flight when the primary died may still be acknowledged by it, so the kill itself is not the start).
  const unavailable = writers.map(({ writer }) => {
    let gapMs = 0
    for (let i = 1; i < writer.okAt.length; i++) {
      if (writer.okAt[i]! > killStartedAt) gapMs = Math.max(gapMs, writer.okAt[i]! - writer.okAt[i - 1]!)
    }
    return { writer: writer.name, gapMs, errors: writer.errors.filter((e) => e.at > killStartedAt) }
  })
  for (const u of unavailable) {
    t.comment(
      `${u.writer}: longest wait between acknowledged writes ${u.gapMs} ms; ${u.errors.length} errors: ` +
        [...new Set(u.errors.map((e) => `${e.code} ${e.message.slice(0, 100)}`))].join(' | '),
    )
    t.ok(u.gapMs < 10_000, `${u.writer}: writes resumed within 10 s (${u.gapMs} ms)`)
    t.ok(
      u.errors.every((e) => e.code !== 'connection'),
      `${u.writer}: every failed write got an SQLSTATE and a sentence, and its connection stayed usable`,
    )
  }
  // Every acknowledged write is on the new primary.
  const primary = await connect(labJson.regions['eu-west']!.pg.direct)
  const { rows } = await primary.query<{ writer: string; n: number }>('SELECT writer, n FROM failover_acks')
  const present = new Set(rows.map((r) => `${r.writer}/${r.n}`))
  const recovery = await primary.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')
  await primary.end()
  t.equal(recovery.rows[0]!.r, false, 'eu-west is out of recovery')
  for (const { writer } of writers) {
    const lost = writer.acked.filter((n) => !present.has(`${writer.name}/${n}`))
    t.same(lost, [], `${writer.name}: all ${writer.acked.length} acknowledged writes are on the new primary`)
  }
  const metrics = await Promise.all(REGIONS.map((r) => greys[r].metrics()))
  const failovers = metrics
    .flatMap((m) => m.split('\n'))
    .filter((l) => l.startsWith('grey_failover_total{'))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0)
  t.equal(failovers, 1, 'one failover, counted by the leader that ran it')
})
