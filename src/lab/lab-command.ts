import { readFileSync } from 'node:fs'
import { COMPONENT_KINDS, type ComponentKind } from './lab-state.js'
import { Lab } from './lab.js'
import { cqlWriteVisibility, greyRoutingDemo, pgWriteVisibility, type VisibilityResult } from './lab-demo.js'
import { createLogger } from '../cli/logger.js'
import { WanEmulator, type WanPlan } from './wan/wan-emulator.js'

export interface LabCommandOptions {
  dir: string
  slot: number
  without: string | undefined
  demo: boolean
  plan: string | undefined
  json: boolean
  /** grey lab up: run the Greys under libfaketime, for grey lab skew. */
  fakeClocks: boolean
  /** grey lab skew: seconds ahead of true time (negative: behind). */
  by: string | undefined
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`)
}

function parseWithout(text: string | undefined): Set<ComponentKind> {
  const kinds = new Set<ComponentKind>()
  for (const word of (text ?? '')
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean)) {
    if (!(COMPONENT_KINDS as readonly string[]).includes(word) || word === 'wan' || word === 'pg') {
      throw new Error(`--without takes a comma list of cassandra, redis, grey; found "${word}"`)
    }
    kinds.add(word as ComponentKind)
  }
  return kinds
}

function printVisibility(rows: VisibilityResult[]): void {
  for (const r of rows) {
    say(
      `  ${r.region.padEnd(9)} ${r.role.padEnd(14)} ${r.visibleAfterMs === null ? 'not visible within the timeout' : `visible after ${r.visibleAfterMs} ms`}`,
    )
  }
}

export async function labCommand(sub: string | undefined, arg: string | undefined, options: LabCommandOptions): Promise<void> {
  if (sub === 'wan') {
    if (!options.plan) throw new Error('grey lab wan needs --plan FILE (written by grey lab up)')
    const plan = JSON.parse(readFileSync(options.plan, 'utf8')) as WanPlan
    const emulator = new WanEmulator(plan, createLogger('info', { component: 'wan' }))
    await emulator.start()
    process.once('SIGTERM', () => process.exit(0))
    return
  }
  const lab = new Lab(options.dir, options.slot)
  switch (sub) {
    case 'up': {
      const t0 = Date.now()
      say(`grey lab: starting in ${lab.plan.dir} (slot ${lab.plan.slot})`)
      await lab.up({ without: parseWithout(options.without), fakeClocks: options.fakeClocks, say })
      say(`grey lab: up in ${((Date.now() - t0) / 1000).toFixed(1)} s; endpoints in ${lab.plan.dir}/lab.json`)
      printStatus(lab)
      if (options.demo) await demo(lab, parseWithout(options.without))
      return
    }
    case 'down':
      await lab.down(say)
      return
    case 'status': {
      if (options.json) {
        say(JSON.stringify({ components: lab.status(), wan: await lab.wanState().catch(() => null) }, null, 2))
        return
      }
      printStatus(lab)
      const wan = await lab.wanState().catch(() => null)
      say(`partitioned regions: ${wan ? wan.partitioned.join(', ') || 'none' : 'unknown (WAN emulator not running)'}`)
      if (lab.status().some((c) => c.status === 'crashed')) process.exitCode = 1
      return
    }
    case 'partition':
      if (!arg) throw new Error('grey lab partition needs a REGION')
      await lab.partition(arg)
      say(`partitioned ${arg}: its cross-region links hang until "grey lab heal"`)
      return
    case 'heal':
      await lab.heal(arg)
      say(arg ? `healed ${arg}` : 'healed every region')
      return
    case 'kill':
      if (!arg) throw new Error('grey lab kill needs KIND:REGION, e.g. pg:us-east')
      await lab.kill(arg)
      say(`killed ${arg}`)
      return
    case 'restart':
      if (!arg) throw new Error('grey lab restart needs KIND:REGION, e.g. pg:us-east')
      await lab.restart(arg)
      say(`restarted ${arg}`)
      return
    case 'rejoin':
      if (!arg) throw new Error('grey lab rejoin needs pg:REGION, e.g. pg:us-east')
      for (const step of await lab.rejoin(arg)) say(step)
      say(`rejoined ${arg} as a standby`)
      return
    case 'skew': {
      if (!arg || options.by === undefined) throw new Error('grey lab skew needs grey:REGION and --by SECONDS, e.g. --by=-3')
      const seconds = Number(options.by)
      lab.skew(arg, seconds)
      say(`${arg}'s wall clock runs ${Math.abs(seconds)} s ${seconds < 0 ? 'behind' : 'ahead of'} true time within 1 s`)
      return
    }
    default:
      throw new Error(`unknown lab command "${sub ?? ''}"; use up, down, status, partition, heal, kill, restart, rejoin or skew`)
  }
}

function printStatus(lab: Lab): void {
  say('component           status    pid      start ms   RSS MB')
  for (const c of lab.status()) {
    say(`${c.name.padEnd(20)}${c.status.padEnd(10)}${String(c.pid).padEnd(9)}${String(c.startMs).padStart(8)}   ${c.rssMb ?? '-'}`)
  }
}

async function demo(lab: Lab, without: ReadonlySet<ComponentKind>): Promise<void> {
  say('\ndemo: a row committed on the PostgreSQL primary in us-east; time until a client in each region reads it')
  const pgResult = await pgWriteVisibility(lab.plan)
  printVisibility(pgResult.regions)
  say(`  (that write used synchronous_commit=local; a synchronous commit, which waits for eu-west, took ${pgResult.syncCommitMs} ms)`)
  if (!without.has('cassandra')) {
    say('demo: a Cassandra write at LOCAL_ONE in us-east; time until a LOCAL_ONE read in each DC sees it')
    printVisibility(await cqlWriteVisibility(lab.plan))
  }
  if (!without.has('grey')) {
    const via = lab.plan.regions[1] ?? lab.plan.regions[0]
    if (via) {
      say(
        `demo: statements sent to the ${via.name} Grey (postgres://${lab.plan.pgUser}@${via.grey.pg.host}:${via.grey.pg.port}/${lab.plan.pgDatabase}); where each one ran:`,
      )
      for (const r of await greyRoutingDemo(lab.plan, via.name)) {
        say(`  ${r.statement.slice(0, 72).padEnd(74)} → ${r.ranIn} ${r.role} in ${r.ms} ms`)
      }
    }
    say('demo: each region has its Grey; admin endpoints:')
    for (const r of lab.plan.regions) {
      const url = `http://${r.grey.admin.host}:${r.grey.admin.port}`
      const ready = await fetch(`${url}/readyz`).then(
        (res) => res.status,
        () => 'down',
      )
      say(`  ${r.name.padEnd(9)} ${url}/readyz → ${ready}   metrics: ${url}/metrics`)
    }
  }
}
