import t from 'tap'
import { join } from 'node:path'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { tmpdir } from 'node:os'
import { GREY } from '../fixtures/test-lab.js'
import { freePort } from '../fixtures/free-port.js'

const dir = mkdtempSync(join(tmpdir(), 'grey-proxy-'))
const adminPort = await freePort()
const token = 'test-admin-token-0123456789'
const configPath = join(dir, 'grey.yaml')
writeFileSync(
  configPath,
  `proxy:
  region: us-east
  drain_timeout: 2s
admin:
  listen: 127.0.0.1:${adminPort}
  token: ${token}
cluster:
  primary_region: us-east
  regions:
    us-east:
      databases:
        postgres: {host: 127.0.0.1, port: 5432}
    eu-west:
      databases:
        postgres: {host: 127.0.0.1, port: 5433}
`,
)
const admin = `http://127.0.0.1:${adminPort}`

async function startProxy(env: NodeJS.ProcessEnv = {}): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [GREY, 'proxy', '--config', configPath], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()))
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`grey proxy exited early: ${out}`)
    if (
      await fetch(`${admin}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { child, output: () => out }
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`grey proxy did not come up: ${out}`)
}

t.test('grey proxy serves /healthz, /readyz, /metrics and a token-guarded /status; logs pino JSON', async (t) => {
  const { child, output } = await startProxy()
  t.teardown(() => child.kill('SIGKILL'))
  t.same(await (await fetch(`${admin}/healthz`)).json(), { status: 'ok' })
  t.equal((await fetch(`${admin}/readyz`)).status, 200)
  const metrics = await (await fetch(`${admin}/metrics`)).text()
  t.match(metrics, /grey_info\{region="us-east",instance="grey-us-east",version="[\d.]+"\} 1/)
  t.match(metrics, /grey_process_resident_memory_bytes \d/)
  t.equal((await fetch(`${admin}/status`)).status, 401, 'no token → 401')
  t.equal((await fetch(`${admin}/status`, { headers: { authorization: 'Bearer wrong-token-0123456789ab' } })).status, 401)
  const status = (await (await fetch(`${admin}/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<
    string,
    unknown
  >
  t.equal(status.region, 'us-east')
  t.same(status.cluster, {
    name: 'grey',
    primary_region: 'us-east',
    regions: { 'us-east': { role: 'primary', mode: 'normal' }, 'eu-west': { role: 'secondary', mode: 'normal' } },
    pg_primary: { region: 'us-east', epoch: 0 },
    rules_version: 0,
    rules: [],
  })
  t.equal(status.raft, null, 'no raft peers configured: no raft member')
  t.equal((await fetch(`${admin}/nope`)).status, 404)
  t.equal((await fetch(`${admin}/metrics`, { method: 'POST' })).status, 405)
  const firstLine = JSON.parse(output().split('\n')[0]!) as Record<string, unknown>
  t.equal(firstLine.msg, 'grey proxy started')
  t.equal(firstLine.region, 'us-east')
})

t.test('SIGTERM drains and exits 0', async (t) => {
  const { child, output } = await startProxy()
  const t0 = Date.now()
  child.kill('SIGTERM')
  const [code] = (await once(child, 'exit')) as [number | null]
  t.equal(code, 0, 'exit code 0')
  t.ok(Date.now() - t0 < 2000, 'well inside the drain timeout with no sessions open')
  t.match(output(), /"msg":"draining: no new connections"/)
  t.match(output(), /"msg":"drained"/)
  t.equal(
    await fetch(`${admin}/healthz`).then(
      () => 'up',
      () => 'down',
    ),
    'down',
    'the admin port is closed',
  )
})

t.test('GREY_* environment variables override config keys', async (t) => {
  const { child } = await startProxy({ GREY_PROXY__REGION: 'eu-west' })
  t.teardown(() => child.kill('SIGKILL'))
  const metrics = await (await fetch(`${admin}/metrics`)).text()
  t.match(metrics, /grey_info\{region="eu-west",instance="grey-eu-west"/)
})

t.test('a bad config is refused with the key path, what was expected and what was found', async (t) => {
  const bad = join(dir, 'bad.yaml')
  writeFileSync(bad, 'proxy:\n  region: us-east\n  drain_timeout: soon\ncluster:\n  regions:\n    us-east: {role: master}\n')
  const r = spawnSync(process.execPath, [GREY, 'proxy', '--config', bad], { encoding: 'utf8' })
  t.equal(r.status, 2)
  t.match(r.stderr, /bad\.yaml: proxy\.drain_timeout: expected a duration like "500ms"[^\n]*, found "soon"/)
  t.match(r.stderr, /cluster\.regions\.us-east\.role: expected one of primary \| secondary, found "master"/)
  const missing = spawnSync(process.execPath, [GREY, 'proxy', '--config', join(dir, 'absent.yaml')], { encoding: 'utf8' })
  t.equal(missing.status, 2)
  t.match(missing.stderr, /absent\.yaml/)
})

t.test('the CLI explains its usage and refuses unknown commands', async (t) => {
  const help = spawnSync(process.execPath, [GREY, '--help'], { encoding: 'utf8' })
  t.equal(help.status, 0)
  t.match(help.stdout, /grey lab partition REGION/)
  const unknown = spawnSync(process.execPath, [GREY, 'frobnicate'], { encoding: 'utf8' })
  t.equal(unknown.status, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
  const noConfig = spawnSync(process.execPath, [GREY, 'proxy'], { encoding: 'utf8' })
  t.equal(noConfig.status, 2)
  t.match(noConfig.stderr, /needs --config FILE/)
})
