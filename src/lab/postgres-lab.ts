import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import pg from 'pg'
import { rejoinAsStandby } from '../failover/rejoin-standby.js'
import { sqlLiteral } from '../routing/sql-literal.js'
import { reachFrom, type LabPlan, type RegionPlan } from './lab-plan.js'
import { waitFor } from './lab-process.js'

const PG_BIN = '/usr/lib/postgresql/15/bin'
const SUPERUSER = 'postgres'

/** PostgreSQL refuses to run as root; as root the lab runs it as the Debian `postgres` user. */
function pgOwner(): { uid: number; gid: number } | null {
  if (process.getuid?.() !== 0) return null
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
  const [, , uid, gid] = line?.split(':') ?? []
  if (!uid || !gid) throw new Error('running as root needs the "postgres" system user (from postgresql-15) to own the lab databases')
  return { uid: Number(uid), gid: Number(gid) }
}

/** A PostgreSQL program as the data directories' owner (the postgres user when the lab runs as root). */
function spawnAsPg(command: string, args: readonly string[]): SpawnSyncReturns<string> {
  const owner = pgOwner()
  return spawnSync(join(PG_BIN, command), args, {
    encoding: 'utf8',
    uid: owner?.uid,
    gid: owner?.gid,
    env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' },
    timeout: 180_000,
  })
}

function runAsPg(command: string, args: string[], what: string): string {
  const r = spawnAsPg(command, args)
  if (r.status !== 0) {
    throw new Error(`${what} failed (${command} exit ${r.status ?? r.signal}): ${(r.stderr || r.stdout || String(r.error ?? '')).trim()}`)
  }
  return r.stdout
}

export function pgRegionDir(plan: LabPlan, region: string): string {
  return join(plan.dir, 'pg', region)
}
export const pgDataDir = (plan: LabPlan, region: string): string => join(pgRegionDir(plan, region), 'data')
const pgLogPath = (plan: LabPlan, region: string): string => join(pgRegionDir(plan, region), 'postgres.log')
export const pgSocketDir = (plan: LabPlan): string => `/tmp/grey-lab-${plan.slot}`

function ownedDir(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 })
  mkdirSync(path, { recursive: true, mode: 0o700 })
  const owner = pgOwner()
  if (owner) chownSync(path, owner.uid, owner.gid)
}

/** The postgres user must be able to reach the lab directory through every parent. */
export function checkPgCanReach(plan: LabPlan): void {
  const owner = pgOwner()
  if (!owner) return
  const r = spawnSync('test', ['-x', plan.dir], { uid: owner.uid, gid: owner.gid })
  if (r.status !== 0) {
    throw new Error(
      `user "postgres" cannot enter ${plan.dir}; the lab keeps its databases there. Give the parent directories o+x or put the repository elsewhere`,
    )
  }
}

const syncStandbyNames = (plan: LabPlan): string =>
  `FIRST 1 (${plan.regions
    .filter((r) => r.pgRole === 'sync-standby')
    .map((r) => `"${r.name}"`)
    .join(', ')})`

function confLines(plan: LabPlan, region: RegionPlan): string {
  return [
    '# written by grey lab',
    `listen_addresses = '${region.pg.host}'`,
    `port = ${region.pg.port}`,
    `unix_socket_directories = '${pgSocketDir(plan)}'`,
    `cluster_name = '${region.name}'`,
    'wal_level = replica',
    'max_wal_senders = 10',
    'max_replication_slots = 10',
    "wal_keep_size = '256MB'",
    // pg_rewind (grey lab rejoin) needs it: a replaced primary is rewound to the new timeline instead of copied anew.
    'wal_log_hints = on',
    'hot_standby = on',
    'hot_standby_feedback = on',
    "wal_receiver_status_interval = '1s'",
    'synchronous_commit = on',
    "shared_buffers = '32MB'",
    'max_connections = 200',
    'logging_collector = off',
    "log_min_messages = 'warning'",
    '',
  ].join('\n')
}

const HBA = [
  '# written by grey lab: trust on the lab socket only, SCRAM over TCP',
  'local all all trust',
  'local replication all trust',
  'host all all 127.0.0.1/32 scram-sha-256',
  'host replication all 127.0.0.1/32 scram-sha-256',
  '',
].join('\n')

export function pgInitialised(plan: LabPlan, region: string): boolean {
  return existsSync(join(pgDataDir(plan, region), 'PG_VERSION'))
}

/** initdb, configuration, start and roles of the primary. */
export async function initPrimary(plan: LabPlan, region: RegionPlan): Promise<void> {
  ownedDir(pgRegionDir(plan, region.name))
  ownedDir(pgSocketDir(plan))
  runAsPg(
    'initdb',
    ['-D', pgDataDir(plan, region.name), '-U', SUPERUSER, '--no-locale', '-E', 'UTF8', '--auth-local=trust', '--auth-host=scram-sha-256'],
    'initdb',
  )
  const data = pgDataDir(plan, region.name)
  appendFileSync(join(data, 'postgresql.conf'), `\n${confLines(plan, region)}`)
  writeFileSync(join(data, 'pg_hba.conf'), HBA)
  await startPg(plan, region.name)
  const client = await superuserClient(plan, region)
  try {
    await client.query(`CREATE ROLE ${plan.pgUser} LOGIN CREATEDB PASSWORD '${plan.pgPassword}'`)
    await client.query(`CREATE ROLE ${plan.replicationUser} LOGIN REPLICATION PASSWORD '${plan.replicationPassword}'`)
    await client.query(`CREATE DATABASE ${plan.pgDatabase} OWNER ${plan.pgUser}`)
    await client.query(`GRANT pg_monitor TO ${plan.pgUser}`)
    // Grey's failover promotes a standby and repoints the others, connected to the application's database as its
    // own user: function privileges belong to each database, so they are granted there.
    const app = await superuserClient(plan, region, plan.pgDatabase)
    try {
      await app.query(`GRANT EXECUTE ON FUNCTION pg_promote(boolean, integer) TO ${plan.pgUser}`)
      await app.query(`GRANT EXECUTE ON FUNCTION pg_reload_conf() TO ${plan.pgUser}`)
      await app.query(
        `GRANT ALTER SYSTEM ON PARAMETER primary_conninfo, primary_slot_name, synchronous_standby_names, default_transaction_read_only TO ${plan.pgUser}`,
      )
    } finally {
      await app.end()
    }
    // Set only now: with it on, every commit (these roles too) waits for a standby that does not exist yet.
    await client.query(`ALTER SYSTEM SET synchronous_standby_names = ${sqlLiteral(syncStandbyNames(plan))}`)
    await client.query('SELECT pg_reload_conf()')
  } finally {
    await client.end()
  }
}

/** pg_basebackup from the primary through this region's WAN relay, then start streaming. */
export async function initStandby(plan: LabPlan, region: RegionPlan): Promise<void> {
  const primary = plan.regions.find((r) => r.pgRole === 'primary')
  if (!primary) throw new Error('the lab plan has no primary region')
  const upstream = reachFrom(plan, region.name, primary.name, 'pg')
  ownedDir(pgRegionDir(plan, region.name))
  ownedDir(pgSocketDir(plan))
  const slot = region.name.replaceAll('-', '_')
  const conninfo = `host=${upstream.host} port=${upstream.port} user=${plan.replicationUser} password=${plan.replicationPassword} application_name=${region.name}`
  const data = pgDataDir(plan, region.name)
  runAsPg(
    'pg_basebackup',
    ['-d', conninfo, '-D', data, '-R', '-X', 'stream', '-C', '-S', slot, '--checkpoint=fast'],
    `pg_basebackup for ${region.name}`,
  )
  writeFileSync(
    join(data, 'postgresql.conf'),
    readFileSync(join(data, 'postgresql.conf'), 'utf8').replace(/# written by grey lab[\s\S]*$/, confLines(plan, region)),
  )
  appendFileSync(join(data, 'postgresql.auto.conf'), `primary_conninfo = '${conninfo}'\nprimary_slot_name = '${slot}'\n`)
  await startPg(plan, region.name)
  // Physical slots are not replicated: each standby gets one, unreserved (it holds no WAL until used), for every other
  // node, so that when it is promoted the others, repointed to it by Grey, stream through their own slot.
  const client = await superuserClient(plan, region)
  try {
    for (const other of plan.regions.filter((r) => r.name !== region.name)) {
      await client.query('SELECT pg_create_physical_replication_slot($1, false)', [other.name.replaceAll('-', '_')])
    }
  } finally {
    await client.end()
  }
}

/**
 * An old primary back as a standby of the node that is out of recovery now (`grey lab rejoin pg:REGION`): pg_rewind
 * from it over the lab's socket as the superuser, then streaming through this region's WAN relay as the replication
 * user, through the slot the lab made for this region on every standby. The steps taken.
 */
export async function rejoinPg(plan: LabPlan, region: RegionPlan): Promise<string[]> {
  let primary: RegionPlan | null = null
  for (const other of plan.regions.filter((r) => r.name !== region.name && pgPid(plan, r.name) !== null)) {
    const client = await superuserClient(plan, other)
    try {
      if ((await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]?.r === false) primary = other
    } finally {
      await client.end()
    }
  }
  if (primary === null) throw new Error(`no other PostgreSQL of the lab is a primary: ${region.name} has nothing to rejoin`)
  const upstream = reachFrom(plan, region.name, primary.name, 'pg')
  const steps = rejoinAsStandby({
    pgdata: pgDataDir(plan, region.name),
    sourceConninfo: `host=${pgSocketDir(plan)} port=${primary.pg.port} user=${SUPERUSER} dbname=postgres`,
    primaryConninfo: `host=${upstream.host} port=${upstream.port} user=${plan.replicationUser} password=${plan.replicationPassword} application_name=${region.name}`,
    slot: region.name.replaceAll('-', '_'),
    run: (program, args) => {
      const r = spawnAsPg(program, args)
      return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` }
    },
  })
  await startPg(plan, region.name)
  return [...steps, `started it as a standby of ${primary.name}`]
}

export async function startPg(plan: LabPlan, region: string): Promise<void> {
  runAsPg(
    'pg_ctl',
    ['start', '-w', '-t', '120', '-D', pgDataDir(plan, region), '-l', pgLogPath(plan, region)],
    `starting PostgreSQL ${region}`,
  )
}

/** `immediate` is how the lab kills a node: no checkpoint, like a crash. */
export function stopPg(plan: LabPlan, region: string, mode: 'fast' | 'immediate' = 'fast'): void {
  if (pgPid(plan, region) === null) return
  runAsPg('pg_ctl', ['stop', '-w', '-t', '60', '-m', mode, '-D', pgDataDir(plan, region)], `stopping PostgreSQL ${region}`)
}

/** The postmaster's pid when it is running, from postmaster.pid. */
export function pgPid(plan: LabPlan, region: string): number | null {
  const file = join(pgDataDir(plan, region), 'postmaster.pid')
  if (!existsSync(file)) return null
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0])
  try {
    process.kill(pid, 0)
    return pid
  } catch {
    return null
  }
}

export function pgLogTail(plan: LabPlan, region: string, lines = 20): string {
  const path = pgLogPath(plan, region)
  return existsSync(path) ? readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : ''
}

async function superuserClient(plan: LabPlan, region: RegionPlan, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({ host: pgSocketDir(plan), port: region.pg.port, user: SUPERUSER, database })
  await client.connect()
  return client
}

/** Waits until every standby streams from the primary (pg_stat_replication shows it). */
export async function waitForStreaming(plan: LabPlan, timeoutMs = 60_000): Promise<void> {
  const primary = plan.regions.find((r) => r.pgRole === 'primary')
  if (!primary) return
  const want = plan.regions.filter((r) => r.pgRole !== 'primary').map((r) => r.name)
  await waitFor(
    `standbys ${want.join(', ')} streaming`,
    async () => {
      const client = await superuserClient(plan, primary)
      try {
        const { rows } = await client.query<{ application_name: string }>(
          "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
        )
        const streaming = new Set(rows.map((r) => r.application_name))
        return want.every((w) => streaming.has(w)) ? true : null
      } finally {
        await client.end()
      }
    },
    timeoutMs,
    200,
  )
}
