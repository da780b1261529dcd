#!/usr/bin/env node
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { GREY_VERSION } from './version.js'

const USAGE = `grey ${GREY_VERSION}: sidecar proxy for multi-region PostgreSQL and Cassandra

  grey proxy --config FILE           run the proxy (env GREY_SECTION__KEY overrides config keys)
  grey status [--json]               this Grey's status: Raft role, term, leader, indexes, members
  grey cluster status [--json]       the replicated cluster state and this member's Raft view
  grey cluster set-primary-region REGION
  grey cluster set-region-mode REGION normal|read-only|quarantined
  grey cluster set-pg-primary REGION [--epoch N]
  grey cluster failover --to REGION  planned switchover: the log first, drain, catch up, promote, fence the old primary
  grey cluster rejoin REGION --pgdata DIR --source CONNINFO --primary-conninfo CONNINFO [--slot NAME] [--bindir DIR]
                                     on the old primary's host: back as a standby of the new one (pg_rewind)
  grey cluster rules apply FILE      replace the routing rules (YAML list) everywhere
  grey cluster add-learner ID HOST:PORT [--region REGION]
  grey cluster promote ID            make a learner a voter
  grey cluster remove ID             take a member out of the Raft group
  grey lab up [--without KINDS] [--demo] [--fake-clocks]
                                     start the local three-region lab (KINDS: cassandra,grey,redis);
                                     --fake-clocks runs the Greys under libfaketime, for grey lab skew
  grey lab down                      stop everything the lab started
  grey lab status                    components, pids, start times, memory, partitions
  grey lab partition REGION          cut a region off (its cross-region links hang)
  grey lab heal [REGION]             restore links
  grey lab kill KIND:REGION          crash a component (pg, cassandra, redis, grey)
  grey lab restart KIND:REGION       start it again
  grey lab rejoin pg:REGION          a replaced PostgreSQL primary back as a standby of the new one (pg_rewind)
  grey lab skew grey:REGION --by S   step that Grey's wall clock to S seconds from true time (--by=-3: behind)
  grey version

status and cluster options: --admin URL (env GREY_ADMIN_URL), --token TOKEN (env GREY_ADMIN_TOKEN), or --config FILE
  to take both from a Grey config; cluster changes go through any member to the Raft leader
lab options: --dir DIR (default .lab, env GREY_LAB_DIR), --slot N (0 = the user's lab, 1 = tests)`

function fail(message: string): never {
  process.stderr.write(`grey: ${message}\n`)
  process.exit(2)
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string' },
      dir: { type: 'string' },
      slot: { type: 'string' },
      without: { type: 'string' },
      demo: { type: 'boolean' },
      'fake-clocks': { type: 'boolean' },
      by: { type: 'string' },
      plan: { type: 'string' },
      json: { type: 'boolean' },
      admin: { type: 'string' },
      token: { type: 'string' },
      region: { type: 'string' },
      epoch: { type: 'string' },
      to: { type: 'string' },
      pgdata: { type: 'string' },
      source: { type: 'string' },
      'primary-conninfo': { type: 'string' },
      bindir: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  const [command, sub, arg] = positionals
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  switch (command) {
    case 'version':
      process.stdout.write(`${GREY_VERSION}\n`)
      return
    case 'proxy':
      if (!values.config) fail('grey proxy needs --config FILE (see src/config/grey.example.yaml)')
      return (await import('./proxy-command.js')).proxyCommand(values.config)
    case 'status':
    case 'cluster': {
      const { adminTarget, clusterCommand, statusCommand } = await import('./cluster-command.js')
      const target = adminTarget(values, process.env)
      const say = (line: string): void => void process.stdout.write(`${line}\n`)
      if (command === 'status') return statusCommand(target, { json: values.json ?? false, say })
      return clusterCommand(positionals.slice(1), target, {
        json: values.json ?? false,
        region: values.region,
        epoch: values.epoch,
        to: values.to,
        rejoin: {
          pgdata: values.pgdata,
          source: values.source,
          primaryConninfo: values['primary-conninfo'],
          slot: values.slot,
          bindir: values.bindir,
        },
        say,
      })
    }
    case 'lab': {
      const { labCommand } = await import('../lab/lab-command.js')
      const dir = resolve(values.dir ?? process.env.GREY_LAB_DIR ?? '.lab')
      return labCommand(sub, arg, {
        dir,
        slot: labSlot(dir, values.slot),
        without: values.without,
        demo: values.demo ?? false,
        plan: values.plan,
        json: values.json ?? false,
        fakeClocks: values['fake-clocks'] ?? false,
        by: values.by,
      })
    }
    default:
      fail(`unknown command "${command}"\n\n${USAGE}`)
  }
}

/** A lab keeps the slot it was created with, so later commands find its ports without --slot. */
function labSlot(dir: string, given: string | undefined): number {
  const file = join(dir, 'slot')
  if (given !== undefined) {
    const slot = Number(given)
    if (!Number.isInteger(slot) || slot < 0 || slot > 9) fail(`--slot takes a whole number from 0 to 9, found "${given}"`)
    const before = existsSync(file) ? Number(readFileSync(file, 'utf8')) : slot
    // Servers already set up there listen on the old slot's ports: moving them would collide with that slot's lab.
    if (before !== slot && existsSync(join(dir, 'pg'))) {
      fail(
        `the lab in ${dir} was set up for slot ${before}; use --slot ${before}, or run \`grey lab down --dir ${dir}\` and remove ${dir} to start over on slot ${slot}`,
      )
    }
    mkdirSync(dir, { recursive: true })
    writeFileSync(file, `${slot}\n`)
    return slot
  }
  return existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0
}

// A ConfigError's message already lists every problem with its key path.
main(process.argv.slice(2)).catch((err: unknown) => fail((err instanceof Error ? err.message : String(err)).replace(/^grey: /, '')))
