import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, rmSync } from 'node:fs'
import pg from 'pg'
import { join } from 'node:path'
import { isLiveProcess } from '../../src/lab/lab-process.js'
import { GREY, ROOT } from '../fixtures/test-lab.js'

// Its own lab (slot 2) so that killing and stopping components cannot disturb the shared test lab.
const dir = join(ROOT, '.lab-test-lifecycle')
interface Component {
  name: string
  status: string
  pid: number
}

function lab(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [GREY, 'lab', ...args, '--dir', dir], { encoding: 'utf8', timeout: 300_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}
const components = (): Component[] => (JSON.parse(lab('status', '--json').stdout) as { components: Component[] }).components
const byName = (name: string): Component | undefined => components().find((c) => c.name === name)
const alive = isLiveProcess

rmSync(dir, { recursive: true, force: true })
t.teardown(() => {
  lab('down')
  rmSync(dir, { recursive: true, force: true })
})

t.test('up starts every component and reports what it started', async (t) => {
  const up = lab('up', '--slot', '2', '--without', 'cassandra')
  t.equal(up.status, 0, up.stderr)
  for (const name of ['wan', 'pg:us-east', 'pg:eu-west', 'pg:ap-south', 'redis:us-east', 'grey:ap-south']) {
    t.match(up.stdout, new RegExp(`${name}\\s+started in\\s+\\d+ ms`), `reports ${name}`)
  }
  const all = components()
  t.equal(all.length, 10, 'wan + 3 × (pg, redis, grey)')
  t.ok(
    all.every((c) => c.status === 'running'),
    'all running',
  )
})

t.test('up a second time is safe: nothing restarts', async (t) => {
  const before = components().map((c) => `${c.name}/${c.pid}`)
  const again = lab('up', '--without', 'cassandra')
  t.equal(again.status, 0, again.stderr)
  t.notMatch(again.stdout, /started in/, 'nothing was started')
  t.same(
    components().map((c) => `${c.name}/${c.pid}`),
    before,
  )
})

t.test('status tells a killed component from a crashed one, and restart brings both back', async (t) => {
  t.equal(lab('kill', 'redis:eu-west').status, 0)
  t.equal(byName('redis:eu-west')?.status, 'killed')
  const grey = byName('grey:ap-south')!
  process.kill(grey.pid, 'SIGKILL')
  await new Promise((r) => setTimeout(r, 300))
  t.equal(byName('grey:ap-south')?.status, 'crashed')
  const status = lab('status')
  t.equal(status.status, 1, 'status exits 1 while something has crashed')
  t.match(status.stdout, /grey:ap-south\s+crashed/)
  t.equal(lab('restart', 'redis:eu-west').status, 0)
  t.equal(lab('restart', 'grey:ap-south').status, 0)
  t.equal(byName('redis:eu-west')?.status, 'running')
  t.equal(byName('grey:ap-south')?.status, 'running')
})

t.test('kill pg:ap-south crashes the standby; restart resumes streaming', async (t) => {
  t.equal(lab('kill', 'pg:ap-south').status, 0)
  t.equal(byName('pg:ap-south')?.status, 'killed')
  const restart = lab('restart', 'pg:ap-south')
  t.equal(restart.status, 0, restart.stderr)
  t.equal(byName('pg:ap-south')?.status, 'running')
  const labJson = JSON.parse(readFileSync(join(dir, 'lab.json'), 'utf8')) as {
    regions: Record<string, { pg: { direct: string } }>
    pg: { user: string; password: string; database: string }
  }
  const [host, port] = labJson.regions['us-east']!.pg.direct.split(':')
  const primary = new pg.Client({
    host,
    port: Number(port),
    user: labJson.pg.user,
    password: labJson.pg.password,
    database: labJson.pg.database,
  })
  await primary.connect()
  const deadline = Date.now() + 15_000
  let state = ''
  while (Date.now() < deadline && state !== 'streaming') {
    const { rows } = await primary.query<{ state: string }>("SELECT state FROM pg_stat_replication WHERE application_name = 'ap-south'")
    state = rows[0]?.state ?? ''
    await new Promise((r) => setTimeout(r, 100))
  }
  await primary.end()
  t.equal(state, 'streaming', 'ap-south streams from the primary again')
})

t.test('unknown components and regions get a clear error', async (t) => {
  const bad = lab('kill', 'pg:mars')
  t.equal(bad.status, 2)
  t.match(bad.stderr, /no lab component "pg:mars": use KIND:REGION/)
  const badRegion = lab('partition', 'mars')
  t.equal(badRegion.status, 2)
  t.match(badRegion.stderr, /unknown region "mars"/)
})

t.test('down stops exactly the processes the lab started', async (t) => {
  // A Redis the lab did not start, on a port of its own: it must survive `down`.
  const bystander = spawn('redis-server', ['--port', '0', '--unixsocket', join(dir, 'bystander.sock'), '--save', ''], { stdio: 'ignore' })
  t.teardown(() => bystander.kill('SIGKILL'))
  await new Promise((r) => setTimeout(r, 300))
  const pids = components().map((c) => c.pid)
  const down = lab('down')
  t.equal(down.status, 0, down.stderr)
  t.match(down.stdout, /stopped pg:us-east/)
  t.same(pids.filter(alive), [], 'every lab process is gone')
  t.ok(bystander.pid !== undefined && alive(bystander.pid), 'the bystander Redis still runs')
  t.same(components(), [], 'status lists nothing')
  bystander.kill('SIGTERM')
  await once(bystander, 'exit')
})
