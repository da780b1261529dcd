import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { greyLabConfig } from './grey-lab-config.js'
import { LAB_CQL_PASSWORD, LAB_CQL_USER } from './cassandra/cassandra-node.js'
import { labWanPlan } from './wan/lab-wan-plan.js'
import { endpointText, LAB_REGIONS, labPlan, reachFrom, regionPlan, type LabPlan, type RegionPlan } from './lab-plan.js'
import { residentMb, spawnDetached, stopProcess, waitFor } from './lab-process.js'
import {
  componentStatus,
  readLabState,
  writeLabState,
  type ComponentKind,
  type ComponentRecord,
  type ComponentStatus,
  type LabState,
} from './lab-state.js'
import {
  checkPgCanReach,
  initPrimary,
  initStandby,
  pgDataDir,
  pgInitialised,
  pgLogTail,
  pgPid,
  rejoinPg,
  startPg,
  stopPg,
  waitForStreaming,
} from './postgres-lab.js'
import { startRedis } from './redis-lab.js'
import { fakeClockEnv, faketimeOffset, libfaketimePath } from './fake-clock.js'
import { cassandraNodeDir, prepareLabCassandra, startLabCassandraNode, stopLabCassandraNode } from './lab-cassandra.js'

const GREY_CLI = fileURLToPath(new URL('../cli/grey.js', import.meta.url))

export interface LabUpOptions {
  /** Component kinds not to start (e.g. `cassandra` for a PostgreSQL-only lab). */
  without: ReadonlySet<ComponentKind>
  /** Greys under libfaketime, so that `grey lab skew` can step their wall clocks (src/lab/fake-clock.ts). */
  fakeClocks?: boolean
  say(line: string): void
}

export interface ComponentReport {
  name: string
  status: ComponentStatus
  pid: number
  startMs: number
  rssMb: number | null
  log: string
}

/** The lab: everything `grey lab …` does, on one directory. */
export class Lab {
  readonly plan: LabPlan
  private state: LabState

  constructor(dir: string, slot: number) {
    this.plan = labPlan({ dir, slot })
    this.state = readLabState(this.plan.dir)
  }

  private record(kind: ComponentKind, region: string | null, pid: number, marker: string, log: string, startMs: number): void {
    const name = region ? `${kind}:${region}` : kind
    this.state.components[name] = { name, kind, region, pid, marker, startedAt: new Date().toISOString(), startMs, log, killed: false }
    writeLabState(this.plan.dir, this.state)
  }

  private running(name: string): boolean {
    const rec = this.state.components[name]
    return rec !== undefined && componentStatus(rec) === 'running'
  }

  /** Starts whatever is not running yet; safe to run twice. */
  async up(options: LabUpOptions): Promise<void> {
    const { plan } = this
    mkdirSync(join(plan.dir, 'logs'), { recursive: true })
    await this.startWan(options)
    await this.startPostgres(options)
    if (!options.without.has('redis')) {
      for (const region of plan.regions) await this.ensure('redis', region, options, () => this.startRedisNode(region))
    }
    if (!options.without.has('cassandra')) {
      // One at a time: a node joins only after the previous one is up (Cassandra's rule for bootstrap).
      let started = 0
      for (const region of plan.regions) {
        if (await this.ensure('cassandra', region, options, () => this.startCassandra(region))) started++
      }
      if (started > 0) {
        const t0 = Date.now()
        await prepareLabCassandra(plan)
        options.say(`cassandra: keyspace grey_lab (NetworkTopologyStrategy, 1 replica per DC) ready in ${Date.now() - t0} ms`)
      }
    }
    if (!options.without.has('grey')) {
      if (options.fakeClocks) this.prepareFakeClocks()
      for (const region of plan.regions) await this.ensure('grey', region, options, () => this.startGrey(region))
    }
    this.writeLabJson()
  }

  /** Starts the component unless it runs; true when it was started. */
  private async ensure(kind: ComponentKind, region: RegionPlan, options: LabUpOptions, start: () => Promise<void>): Promise<boolean> {
    const name = `${kind}:${region.name}`
    if (this.running(name)) return false
    const t0 = Date.now()
    await start()
    const rec = this.state.components[name]
    options.say(`${name.padEnd(18)} started in ${String(Date.now() - t0).padStart(6)} ms  pid ${rec?.pid ?? '?'}`)
    return true
  }

  private async startWan(options: LabUpOptions): Promise<void> {
    if (this.running('wan')) return
    const t0 = Date.now()
    const planPath = join(this.plan.dir, 'wan-plan.json')
    const wanPlan = labWanPlan(this.plan)
    writeFileSync(planPath, JSON.stringify(wanPlan, null, 2))
    const log = join(this.plan.dir, 'logs', 'wan.log')
    const pid = spawnDetached(process.execPath, [GREY_CLI, 'lab', 'wan', '--plan', planPath], { logPath: log })
    await waitFor('the WAN emulator control port', () => this.wanRequest('GET', '/state').then(() => true), 10_000)
    this.record('wan', null, pid, planPath, log, Date.now() - t0)
    options.say(`wan                started in ${String(Date.now() - t0).padStart(6)} ms  pid ${pid} (${wanPlan.relays.length} relays)`)
  }

  private async startPostgres(options: LabUpOptions): Promise<void> {
    const { plan } = this
    checkPgCanReach(plan)
    const ordered = [...plan.regions].sort((a, b) => (a.pgRole === 'primary' ? -1 : b.pgRole === 'primary' ? 1 : 0))
    for (const region of ordered) {
      await this.ensure('pg', region, options, async () => {
        const t0 = Date.now()
        if (pgPid(plan, region.name) === null) {
          if (pgInitialised(plan, region.name)) await startPg(plan, region.name)
          else if (region.pgRole === 'primary') await initPrimary(plan, region)
          else await initStandby(plan, region)
        }
        const pid = pgPid(plan, region.name)
        if (pid === null) throw new Error(`PostgreSQL ${region.name} did not start:\n${pgLogTail(plan, region.name)}`)
        this.record(
          'pg',
          region.name,
          pid,
          pgDataDir(plan, region.name),
          join(plan.dir, 'pg', region.name, 'postgres.log'),
          Date.now() - t0,
        )
      })
    }
    await waitForStreaming(plan)
  }

  private async startRedisNode(region: RegionPlan): Promise<void> {
    const t0 = Date.now()
    const pid = await startRedis(this.plan, region)
    this.record(
      'redis',
      region.name,
      pid,
      `${region.redis.host}:${region.redis.port}`,
      join(this.plan.dir, 'redis', region.name, 'redis.log'),
      Date.now() - t0,
    )
  }

  private async startCassandra(region: RegionPlan): Promise<void> {
    const { pid, startMs, log } = await startLabCassandraNode(this.plan, region)
    this.record('cassandra', region.name, pid, cassandraNodeDir(this.plan, region.name), log, startMs)
  }

  private async startGrey(region: RegionPlan): Promise<void> {
    const t0 = Date.now()
    const dir = join(this.plan.dir, 'grey', region.name)
    mkdirSync(dir, { recursive: true })
    const configPath = join(dir, 'grey.yaml')
    writeFileSync(configPath, greyLabConfig(this.plan, region))
    const log = join(this.plan.dir, 'logs', `grey-${region.name}.log`)
    const offsetFile = this.clockOffsetFile(region.name)
    const library = existsSync(offsetFile) ? libfaketimePath() : null
    const env = library === null ? process.env : { ...process.env, ...fakeClockEnv(library, offsetFile) }
    const pid = spawnDetached(process.execPath, [GREY_CLI, 'proxy', '--config', configPath], { logPath: log, env })
    const healthz = `http://${endpointText(region.grey.admin)}/readyz`
    await waitFor(`grey ${region.name} ready on ${healthz}`, async () => ((await fetch(healthz)).ok ? true : null), 15_000)
    this.record('grey', region.name, pid, configPath, log, Date.now() - t0)
  }

  /** The offset file of a Grey under libfaketime; the Grey runs under it (from its next start) when the file exists. */
  private clockOffsetFile(region: string): string {
    return join(this.plan.dir, 'grey', region, 'clock-offset')
  }

  private prepareFakeClocks(): void {
    if (libfaketimePath() === null) {
      throw new Error('--fake-clocks runs the Greys under libfaketime, which is not installed: apt-get install libfaketime')
    }
    for (const region of this.plan.regions) {
      const file = this.clockOffsetFile(region.name)
      mkdirSync(dirname(file), { recursive: true })
      if (!existsSync(file)) writeFileSync(file, `${faketimeOffset(0)}\n`)
    }
  }

  /** `grey lab skew grey:REGION --by SECONDS`: that Grey's wall clock steps to SECONDS from true time within 1 s. */
  skew(name: string, seconds: number): void {
    const rec = this.component(name)
    if (rec.kind !== 'grey' || !rec.region) throw new Error(`grey lab skew takes a Grey, like grey:us-east, not ${name}`)
    const file = this.clockOffsetFile(rec.region)
    if (!existsSync(file)) {
      throw new Error(`${name} does not run under libfaketime: start the lab with \`grey lab up --fake-clocks\` (after grey lab down)`)
    }
    writeFileSync(file, `${faketimeOffset(seconds)}\n`)
  }

  /** Stops exactly what the lab started, by pid, newest first. */
  async down(say: (line: string) => void): Promise<void> {
    const order: ComponentKind[] = ['grey', 'cassandra', 'redis', 'pg', 'wan']
    for (const kind of order) {
      const records = Object.values(this.state.components).filter((c) => c.kind === kind)
      await Promise.all(records.map((rec) => this.stopComponent(rec, 'fast')))
      for (const rec of records) {
        delete this.state.components[rec.name]
        say(`stopped ${rec.name}`)
      }
      writeLabState(this.plan.dir, this.state)
    }
  }

  private async stopComponent(rec: ComponentRecord, mode: 'fast' | 'kill'): Promise<void> {
    if (rec.kind === 'pg' && rec.region) {
      // pg_ctl knows the postmaster; "immediate" is a crash as far as PostgreSQL can tell.
      if (pgPid(this.plan, rec.region) === rec.pid) stopPg(this.plan, rec.region, mode === 'kill' ? 'immediate' : 'fast')
      return
    }
    if (rec.kind === 'cassandra' && rec.region && mode === 'fast') return stopLabCassandraNode(this.plan, rec.region)
    await stopProcess(rec.pid, rec.marker, 30_000, mode === 'kill' ? 'SIGKILL' : 'SIGTERM')
  }

  status(): ComponentReport[] {
    return Object.values(this.state.components).map((rec) => {
      const status = componentStatus(rec)
      return {
        name: rec.name,
        status,
        pid: rec.pid,
        startMs: rec.startMs,
        rssMb: status === 'running' ? residentMb(rec.pid) : null,
        log: rec.log,
      }
    })
  }

  private component(name: string): ComponentRecord {
    const rec = this.state.components[name]
    if (!rec) {
      const known = Object.keys(this.state.components).join(', ') || 'none (is the lab up?)'
      throw new Error(
        `no lab component "${name}": use KIND:REGION with KIND one of pg, cassandra, redis, grey and REGION one of ${LAB_REGIONS.join(', ')}; running: ${known}`,
      )
    }
    return rec
  }

  /** Kills a component as a crash would (SIGKILL; PostgreSQL in immediate mode). */
  async kill(name: string): Promise<void> {
    const rec = this.component(name)
    await this.stopComponent(rec, 'kill')
    rec.killed = true
    writeLabState(this.plan.dir, this.state)
  }

  /** `grey lab rejoin pg:REGION`: a replaced primary back as a standby of the current one (pg_rewind). */
  async rejoin(name: string): Promise<string[]> {
    const rec = this.component(name)
    if (rec.kind !== 'pg' || !rec.region) throw new Error(`grey lab rejoin takes a PostgreSQL node, like pg:us-east, not ${name}`)
    const t0 = Date.now()
    const steps = await rejoinPg(this.plan, regionPlan(this.plan, rec.region))
    const pid = pgPid(this.plan, rec.region)
    if (pid === null) throw new Error(`PostgreSQL ${rec.region} did not start as a standby:\n${pgLogTail(this.plan, rec.region)}`)
    this.record('pg', rec.region, pid, rec.marker, rec.log, Date.now() - t0)
    return steps
  }

  async restart(name: string): Promise<void> {
    const rec = this.component(name)
    if (componentStatus(rec) === 'running') await this.stopComponent(rec, 'fast')
    const region = rec.region ? regionPlan(this.plan, rec.region) : null
    const say = (): void => undefined
    if (rec.kind === 'wan') {
      delete this.state.components.wan
      return this.startWan({ without: new Set(), say })
    }
    if (!region) throw new Error(`cannot restart ${name}`)
    switch (rec.kind) {
      case 'pg': {
        const t0 = Date.now()
        await startPg(this.plan, region.name)
        const pid = pgPid(this.plan, region.name)
        if (pid === null) throw new Error(`PostgreSQL ${region.name} did not restart:\n${pgLogTail(this.plan, region.name)}`)
        this.record('pg', region.name, pid, rec.marker, rec.log, Date.now() - t0)
        return
      }
      case 'redis':
        return this.startRedisNode(region)
      case 'cassandra':
        return this.startCassandra(region)
      case 'grey':
        return this.startGrey(region)
    }
  }

  async partition(region: string): Promise<void> {
    regionPlan(this.plan, region)
    await this.wanRequest('POST', `/partition/${region}`)
  }

  async heal(region?: string): Promise<void> {
    if (region) regionPlan(this.plan, region)
    await this.wanRequest('POST', region ? `/heal/${region}` : '/heal')
  }

  async wanState(): Promise<{ partitioned: string[] } | null> {
    if (!this.running('wan')) return null
    return (await this.wanRequest('GET', '/state')) as { partitioned: string[] }
  }

  private async wanRequest(method: string, path: string): Promise<unknown> {
    const res = await fetch(`http://${endpointText(this.plan.wanControl)}${path}`, { method })
    const body: unknown = await res.json()
    if (!res.ok) throw new Error(`WAN emulator: ${JSON.stringify(body)}`)
    return body
  }

  /** `.lab/lab.json`: every endpoint, in the keys tooling reads. */
  labJson(): unknown {
    const { plan } = this
    return {
      dir: plan.dir,
      regions: Object.fromEntries(
        plan.regions.map((r) => [
          r.name,
          {
            grey: { pg: endpointText(r.grey.pg), cql: endpointText(r.grey.cql), admin: `http://${endpointText(r.grey.admin)}` },
            pg: { direct: endpointText(r.pg), role: r.pgRole },
            cassandra: endpointText(r.cassandra.listen),
            redis: endpointText(r.redis),
          },
        ]),
      ),
      pg: { user: plan.pgUser, password: plan.pgPassword, database: plan.pgDatabase },
      cassandra: { user: LAB_CQL_USER, password: LAB_CQL_PASSWORD, keyspace: 'grey_lab' },
      admin: { token: plan.adminToken },
      wan: {
        control: `http://${endpointText(plan.wanControl)}`,
        // How a client in one region reaches another region's servers: through the relays.
        paths: Object.fromEntries(
          plan.regions.flatMap((from) =>
            plan.regions
              .filter((to) => to !== from)
              .map((to) => [
                `${from.name}->${to.name}`,
                {
                  pg: endpointText(reachFrom(plan, from.name, to.name, 'pg')),
                  cassandra: endpointText(reachFrom(plan, from.name, to.name, 'cql')),
                },
              ]),
          ),
        ),
      },
    }
  }

  private writeLabJson(): void {
    writeFileSync(join(this.plan.dir, 'lab.json'), `${JSON.stringify(this.labJson(), null, 2)}\n`)
  }
}
