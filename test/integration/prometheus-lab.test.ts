// A real Prometheus (Debian's) scraping the lab's three Greys with Grey's own alert rules (docker/prometheus/alerts.yml):
// the rules load, every target is up, and the replication-lag warning fires for ap-south while its standby is cut off
// by a partition and the primary keeps writing.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../fixtures/free-port.js'
import { ensureTestLab, labCli, pgConnect, ROOT, type LabJson } from '../fixtures/test-lab.js'

const PROMETHEUS = '/usr/bin/prometheus'
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const lab: LabJson = await ensureTestLab()

const dir = mkdtempSync(join(tmpdir(), 'grey-prometheus-'))
const port = await freePort()
const targets = REGIONS.map(
  (r) => `      - targets: ['${lab.regions[r]!.grey.admin.replace(/^https?:\/\//, '')}']\n        labels:\n          grey_region: ${r}`,
).join('\n')
writeFileSync(
  join(dir, 'prometheus.yml'),
  `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - ${join(ROOT, 'docker', 'prometheus', 'alerts.yml')}\n` +
    `scrape_configs:\n  - job_name: grey\n    static_configs:\n${targets}\n`,
)
const prometheus = spawn(
  PROMETHEUS,
  [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
  { stdio: ['ignore', 'ignore', 'pipe'] },
)
let stderr = ''
prometheus.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)))
t.teardown(() => {
  prometheus.kill('SIGKILL')
})

const api = async <T>(path: string): Promise<T> => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`)
  return ((await res.json()) as { data: T }).data
}
async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => null)
    if (value !== null) return value
    if (Date.now() > deadline || prometheus.exitCode !== null) throw new Error(`timed out waiting for ${what}; prometheus said:\n${stderr}`)
    await sleep(500)
  }
}

t.test("Grey's alert rules load and every Grey is scraped", async (t) => {
  const groups = await until('the rules to load', 30_000, async () => {
    const data = await api<{ groups: { name: string; rules: { name: string; health: string }[] }[] }>('/api/v1/rules')
    return data.groups.length > 0 ? data.groups : null
  })
  const rules = groups.flatMap((g) => g.rules)
  t.same(rules.map((r) => r.name).sort(), [
    'GreyConflictRateHigh',
    'GreyCrossRegionLatencyHigh',
    'GreyFailoverOccurred',
    'GreyReplicationLagCritical',
    'GreyReplicationLagWarning',
  ])
  const up = await until('every target to be up', 30_000, async () => {
    const data = await api<{ activeTargets: { labels: { grey_region: string }; health: string }[] }>('/api/v1/targets')
    const healthy = data.activeTargets.filter((a) => a.health === 'up').map((a) => a.labels.grey_region)
    return healthy.length === REGIONS.length ? healthy.sort() : null
  })
  t.same(up, [...REGIONS].sort(), 'the three Greys are up')
  t.ok(
    rules.every((r) => r.health !== 'err'),
    'every rule evaluates',
  )
})

t.test('the lag warning fires for a partitioned standby while the primary writes', async (t) => {
  const primary = await pgConnect(lab, lab.regions['us-east']!.pg.direct)
  await primary.query('CREATE TABLE IF NOT EXISTS prometheus_lag (id serial PRIMARY KEY, at timestamptz DEFAULT now())')
  let writing = true
  const writer = (async () => {
    while (writing) {
      await primary.query('INSERT INTO prometheus_lag DEFAULT VALUES').catch(() => undefined)
      await sleep(100)
    }
  })()
  labCli('partition', 'ap-south')
  const started = Date.now()
  try {
    const alert = await until('GreyReplicationLagWarning for ap-south', 120_000, async () => {
      const data = await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')
      return (
        data.alerts.find(
          (a) => a.labels.alertname === 'GreyReplicationLagWarning' && a.labels.target === 'ap-south' && a.state === 'firing',
        ) ?? null
      )
    })
    t.comment(`GreyReplicationLagWarning firing for ap-south ${((Date.now() - started) / 1000).toFixed(1)} s after the partition`)
    t.equal(alert.labels.severity, 'warning')
    const others = (await api<{ alerts: { labels: Record<string, string>; state: string }[] }>('/api/v1/alerts')).alerts.filter(
      (a) => a.labels.alertname === 'GreyReplicationLagWarning' && a.labels.target === 'eu-west',
    )
    t.same(others, [], 'the synchronous standby, still connected, raises nothing')
  } finally {
    labCli('heal')
    writing = false
    await writer
    await primary.end()
  }
})
