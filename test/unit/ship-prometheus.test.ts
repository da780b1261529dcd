import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { parse } from 'yaml'
import { hostPort } from '../../src/config/host-port.js'
import { loadConfig } from '../../src/config/load-config.js'
import { checkMetricNames, exportedMetrics } from '../fixtures/grey-metric-names.js'
import { bindMount, dockerfileEnv, loadCompose, ROOT, serviceEnv } from '../fixtures/ship-files.js'
import { PROMTOOL, requireTool, runTool } from '../fixtures/ship-tools.js'

interface Rule {
  alert: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface PrometheusConfig {
  rule_files?: string[]
  scrape_configs?: { job_name: string; metrics_path?: string; static_configs?: { targets: string[]; labels?: Record<string, string> }[] }[]
}

const DIR = join(ROOT, 'docker', 'prometheus')
const CONFIG = join(DIR, 'prometheus.yml')
const ALERTS = join(DIR, 'alerts.yml')
const ALERT_TESTS = join(DIR, 'alerts.test.yml')
const rules = (parse(readFileSync(ALERTS, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules)
const config = parse(readFileSync(CONFIG, 'utf8')) as PrometheusConfig
const ruleNamed = (name: string): Rule | undefined => rules.find((r) => r.alert === name)

/** promtool's verdict, with its output in the assertion's message when it fails. */
function promtool(t: Test, args: string[], what: string): void {
  const run = runTool(PROMTOOL, args)
  t.equal(run.status, 0, `${what}\n${run.stdout}${run.stderr}`)
}

t.test('promtool accepts the Prometheus config (with the rule files it names) and the alert rules', async (t) => {
  if (!requireTool(t, PROMTOOL)) return
  promtool(t, ['check', 'config', CONFIG], 'promtool check config docker/prometheus/prometheus.yml')
  promtool(t, ['check', 'rules', ALERTS], 'promtool check rules docker/prometheus/alerts.yml')
  t.same(config.rule_files, ['alerts.yml'], 'prometheus.yml loads alerts.yml')
})

t.test("the alert rules' unit tests pass, and catch a threshold that is off", async (t) => {
  if (!requireTool(t, PROMTOOL)) return
  promtool(t, ['test', 'rules', ALERT_TESTS], 'promtool test rules docker/prometheus/alerts.test.yml')
  // The same tests against rules that fire at 5 s instead of above it must fail: the tests pin the thresholds.
  const dir = mkdtempSync(join(tmpdir(), 'grey-alerts-'))
  try {
    cpSync(DIR, dir, { recursive: true })
    for (const [from, to] of [
      ['(grey_replication_lag_seconds) > 5', '(grey_replication_lag_seconds) >= 5'],
      ['(grey_replication_lag_seconds) > 30', '(grey_replication_lag_seconds) > 29'],
    ] as const) {
      const text = readFileSync(ALERTS, 'utf8')
      t.ok(text.includes(from), `alerts.yml has ${from}`)
      writeFileSync(join(dir, 'alerts.yml'), text.replace(from, to))
      const run = runTool(PROMTOOL, ['test', 'rules', join(dir, 'alerts.test.yml')])
      t.not(run.status, 0, `the tests fail when "${from}" becomes "${to}"`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

t.test("the alerts are the seed card's, at Grey's own lag thresholds", async (t) => {
  const warning = ruleNamed('GreyReplicationLagWarning')
  const critical = ruleNamed('GreyReplicationLagCritical')
  t.match(warning, { expr: /grey_replication_lag_seconds\)? > 5$/, for: /^\d+s$/, labels: { severity: 'warning' } }, 'lag > 5 s: warning')
  t.match(
    critical,
    { expr: /grey_replication_lag_seconds\)? > 30$/, for: /^\d+s$/, labels: { severity: 'critical' } },
    'lag > 30 s: critical',
  )
  // The thresholds of docker/grey/*.yaml: where reads become stale and where Grey bans the replica.
  const greyConfig = loadConfig(join(ROOT, 'docker', 'grey', 'us-east.yaml'), { GREY_CONSENSUS__RAFT__SECRET: 'x'.repeat(16) })
  t.equal(
    Number(/> (\d+)$/.exec(warning?.expr ?? '')?.[1]) * 1000,
    greyConfig.replication.postgres.max_lag_warning,
    'warning at max_lag_warning',
  )
  t.equal(
    Number(/> (\d+)$/.exec(critical?.expr ?? '')?.[1]) * 1000,
    greyConfig.replication.postgres.max_lag_critical,
    'critical at max_lag_critical',
  )
  t.match(
    ruleNamed('GreyFailoverOccurred'),
    { expr: /increase\(grey_failover_total\[/ },
    'failover occurred: an increase of grey_failover_total',
  )
  t.match(ruleNamed('GreyConflictRateHigh'), { expr: /rate\(grey_conflicts_total\[/ }, 'conflict rate: a rate of grey_conflicts_total')
  t.match(
    ruleNamed('GreyCrossRegionLatencyHigh'),
    { expr: /^histogram_quantile\(0\.99,[\s\S]*grey_statement_duration_seconds_bucket[\s\S]*\) > 0\.5$/ },
    'cross-region latency: p99 above 500 ms',
  )
  for (const rule of rules) {
    t.match(
      rule,
      { labels: { severity: /^(warning|critical)$/ }, annotations: { summary: /\S/, description: /\S/ } },
      `${rule.alert}: severity, summary, description`,
    )
  }
})

t.test('every metric the alert rules use is one Grey exports, or one listed as pending with its issue', async (t) => {
  checkMetricNames(
    t,
    exportedMetrics(),
    rules.map((r) => ({ where: r.alert, expr: r.expr })),
  )
})

t.test("Prometheus scrapes every Grey of compose.yaml on its admin port, labelled with the Grey's region", async (t) => {
  const { compose } = loadCompose()
  const greys = Object.entries(compose.services).filter(([name]) => name.startsWith('grey-'))
  const expected = greys.map(([name, service]) => {
    const mount = (service.volumes ?? []).map(bindMount).find((m) => m?.target === '/etc/grey/grey.yaml')
    const env = { ...dockerfileEnv(), ...serviceEnv(service) }
    const grey = loadConfig(join(ROOT, mount!.source), env)
    return { target: `${name}:${hostPort(grey.admin.listen).port}`, grey_region: grey.proxy.region }
  })
  t.equal(expected.length, 3, 'three Greys in compose.yaml')
  const jobs = config.scrape_configs ?? []
  const job = jobs.find((j) => j.job_name === 'grey')
  t.equal(job?.metrics_path ?? '/metrics', '/metrics', "Grey's metrics endpoint")
  const scraped = (job?.static_configs ?? []).flatMap((s) => s.targets.map((target) => ({ target, grey_region: s.labels?.grey_region })))
  t.same(scraped, expected, 'one target per Grey, at its admin port, with grey_region = its proxy.region')
  const prometheus = compose.services.prometheus
  t.ok(
    (prometheus?.volumes ?? []).map(bindMount).some((m) => m?.source === './docker/prometheus' && m.target === '/etc/prometheus'),
    'compose.yaml mounts docker/prometheus where the config file flag points',
  )
  t.match(prometheus?.command, ['--config.file=/etc/prometheus/prometheus.yml'], 'and Prometheus is told to read it')
})
