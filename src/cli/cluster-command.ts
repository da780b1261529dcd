// `grey status` and `grey cluster …`: clients of a running Grey's admin API. State-changing calls go to any member,
// which forwards them to the Raft leader; every call carries the admin token.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../config/load-config.js'
import type { RaftServerStatus } from '../consensus/raft-server.js'
import { rejoinAsStandby } from '../failover/rejoin-standby.js'

export interface AdminTarget {
  /** http://host:port of the admin API. */
  readonly url: string
  readonly token: string | undefined
}

export interface AdminTargetFlags {
  readonly admin?: string | undefined
  readonly token?: string | undefined
  readonly config?: string | undefined
}

/** --admin / --token, else GREY_ADMIN_URL / GREY_ADMIN_TOKEN, else admin.listen and admin.token of --config. */
export function adminTarget(flags: AdminTargetFlags, env: NodeJS.ProcessEnv): AdminTarget {
  const config = flags.config === undefined ? null : loadConfig(flags.config, env)
  const given = flags.admin ?? env.GREY_ADMIN_URL
  const url = given ?? `http://${config?.admin.listen ?? '127.0.0.1:9187'}`
  return {
    url: /^https?:\/\//.test(url) ? url.replace(/\/$/, '') : `http://${url}`,
    token: flags.token ?? env.GREY_ADMIN_TOKEN ?? config?.admin.token,
  }
}

export class AdminCallError extends Error {
  override readonly name = 'AdminCallError'
}

/** One call of the admin API; its JSON answer, or an AdminCallError with the server's sentence. */
export async function callAdmin(
  target: AdminTarget,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<Record<string, unknown>> {
  let res: Response
  try {
    res = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        ...(target.token === undefined ? {} : { authorization: `Bearer ${target.token}` }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message
    throw new AdminCallError(
      `cannot reach the Grey admin API at ${target.url} (${cause}); is Grey running? pass --admin URL or --config FILE`,
    )
  }
  const json = (await res.json().catch(() => ({}))) as Record<string, unknown>
  if (!res.ok) {
    const error = typeof json.error === 'string' ? json.error.replace(/^grey: /, '') : `HTTP ${res.status}`
    throw new AdminCallError(res.status === 401 || res.status === 403 ? `${error} (pass --token or set GREY_ADMIN_TOKEN)` : error)
  }
  return json
}

export interface ClusterCommandOptions {
  readonly json: boolean
  readonly region?: string | undefined
  readonly epoch?: string | undefined
  readonly to?: string | undefined
  /** grey cluster rejoin: where the node's data is, how to reach the new primary, PostgreSQL's programs. */
  readonly rejoin?: {
    readonly pgdata?: string | undefined
    readonly source?: string | undefined
    readonly primaryConninfo?: string | undefined
    readonly slot?: string | undefined
    readonly bindir?: string | undefined
  }
  readonly say: (line: string) => void
}

const CLUSTER_USAGE = `grey cluster status
grey cluster set-primary-region REGION
grey cluster set-region-mode REGION normal|read-only|quarantined
grey cluster set-pg-primary REGION [--epoch N]     (N: the epoch it must replace)
grey cluster failover --to REGION                  (planned switchover: drain, catch up, promote, fence the old)
grey cluster rejoin REGION --pgdata DIR --source CONNINFO --primary-conninfo CONNINFO [--slot NAME] [--bindir DIR]
                                                   (on the old primary's host: back as a standby, with pg_rewind)
grey cluster rules apply FILE                      (YAML: a list of rules, or {rules: [...]})
grey cluster add-learner ID HOST:PORT [--region REGION]
grey cluster promote ID
grey cluster remove ID`

/** `grey cluster ARGS…` against `target`. */
export async function clusterCommand(args: readonly string[], target: AdminTarget, options: ClusterCommandOptions): Promise<void> {
  const [sub, first, second] = args
  const need = (value: string | undefined, what: string): string => {
    if (value === undefined) throw new AdminCallError(`grey cluster ${sub ?? ''} needs ${what}\n\n${CLUSTER_USAGE}`)
    return value
  }
  let result: Record<string, unknown>
  switch (sub) {
    case 'status': {
      result = await callAdmin(target, 'GET', '/cluster/status')
      if (options.json) return options.say(JSON.stringify(result, null, 2))
      for (const line of formatClusterStatus(result)) options.say(line)
      return
    }
    case 'set-primary-region':
      result = await callAdmin(target, 'POST', '/cluster/primary-region', { region: need(first, 'a REGION') })
      break
    case 'set-region-mode':
      result = await callAdmin(target, 'POST', '/cluster/region-mode', { region: need(first, 'a REGION'), mode: need(second, 'a MODE') })
      break
    case 'set-pg-primary': {
      const epoch = options.epoch === undefined ? undefined : Number(options.epoch)
      result = await callAdmin(target, 'POST', '/cluster/pg-primary', { region: need(first, 'a REGION'), expected_epoch: epoch })
      break
    }
    case 'failover': {
      const to = options.to ?? need(undefined, '--to REGION')
      const answer = await callAdmin(target, 'POST', '/cluster/failover', { to })
      if (options.json) return options.say(JSON.stringify(answer, null, 2))
      const done = answer.switchover as { from: string; to: string; epoch: number; lsn: string; seconds: number }
      options.say(
        `switched over from ${done.from} to ${done.to} (failover epoch ${done.epoch}) in ${done.seconds.toFixed(1)} s; ` +
          `the new primary has everything up to ${done.lsn}; the old primary is fenced`,
      )
      for (const line of formatCluster(answer.cluster as Record<string, unknown> | undefined)) options.say(line)
      return
    }
    case 'rules': {
      if (first !== 'apply') throw new AdminCallError(`grey cluster rules takes "apply FILE"\n\n${CLUSTER_USAGE}`)
      result = await callAdmin(target, 'POST', '/cluster/rules', { rules: readRules(need(second, 'a FILE')) })
      break
    }
    case 'add-learner':
      result = await callAdmin(target, 'POST', '/cluster/learners', {
        id: need(first, 'an ID'),
        address: need(second, 'a HOST:PORT'),
        region: options.region,
      })
      break
    case 'promote':
      result = await callAdmin(target, 'POST', '/cluster/promote', { id: need(first, 'an ID') })
      break
    case 'remove':
      result = await callAdmin(target, 'POST', '/cluster/remove', { id: need(first, 'an ID') })
      break
    case 'rejoin': {
      const region = need(first, 'a REGION')
      const r = options.rejoin ?? {}
      const status = await callAdmin(target, 'GET', '/cluster/status')
      const primary = (status.cluster as { pg_primary?: { region?: string; epoch?: number } } | undefined)?.pg_primary
      if (primary?.region === region) {
        throw new AdminCallError(
          `${region} is the PostgreSQL primary the log names (epoch ${primary.epoch ?? '?'}); only a replaced one rejoins`,
        )
      }
      const bindir = r.bindir ?? '/usr/lib/postgresql/15/bin'
      const pgdata = r.pgdata ?? need(undefined, '--pgdata DIR')
      const steps = rejoinAsStandby({
        pgdata,
        sourceConninfo: r.source ?? need(undefined, '--source CONNINFO (pg_rewind reaches the new primary so)'),
        primaryConninfo: r.primaryConninfo ?? need(undefined, '--primary-conninfo CONNINFO (the standby streams so)'),
        slot: r.slot ?? null,
        run: (program, args) => {
          const done = spawnSync(join(bindir, program), args, { encoding: 'utf8', timeout: 300_000 })
          return { status: done.status, output: `${done.stdout ?? ''}${done.stderr ?? ''}${done.error ? String(done.error) : ''}` }
        },
      })
      const started = spawnSync(join(bindir, 'pg_ctl'), ['start', '-w', '-D', pgdata, '-l', join(pgdata, 'grey-rejoin.log')], {
        encoding: 'utf8',
      })
      if (started.status !== 0) throw new AdminCallError(`pg_ctl start failed: ${started.stdout}${started.stderr}`)
      for (const step of [...steps, `started it as a standby of ${primary?.region ?? 'the new primary'}`]) options.say(step)
      return
    }
    default:
      throw new AdminCallError(`unknown cluster command "${sub ?? ''}"\n\n${CLUSTER_USAGE}`)
  }
  if (options.json) return options.say(JSON.stringify(result, null, 2))
  options.say(`committed at raft index ${String(result.index)}`)
  for (const line of formatCluster(result.cluster as Record<string, unknown> | undefined)) options.say(line)
}

/** `grey status`: this Grey's /status, Raft first. */
export async function statusCommand(target: AdminTarget, options: { json: boolean; say: (line: string) => void }): Promise<void> {
  const status = await callAdmin(target, 'GET', '/status')
  if (options.json) return options.say(JSON.stringify(status, null, 2))
  options.say(
    `${String(status.instance_id)} (${String(status.region)}), version ${String(status.version)}, up ${String(status.uptime_s)} s`,
  )
  for (const line of formatRaft(status.raft as RaftServerStatus | null)) options.say(line)
  for (const line of formatCluster(status.cluster as Record<string, unknown> | undefined)) options.say(line)
}

function readRules(path: string): unknown {
  let doc: unknown
  try {
    doc = parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new AdminCallError(`cannot read rules from ${path}: ${(error as Error).message}`)
  }
  if (doc !== null && typeof doc === 'object' && !Array.isArray(doc) && 'rules' in doc) return doc.rules
  return doc ?? []
}

export function formatClusterStatus(result: Record<string, unknown>): string[] {
  return [...formatRaft(result.raft as RaftServerStatus | null), ...formatCluster(result.cluster as Record<string, unknown> | undefined)]
}

/** Role, term, leader, indexes and members with their last contact, as lines. */
export function formatRaft(raft: RaftServerStatus | null): string[] {
  if (raft === null) return ['raft: not configured (consensus.raft.peers is empty)']
  const lines = [
    `raft: ${raft.nodeId} is ${raft.role}, term ${raft.term}, leader ${raft.leader ?? 'none'}, commit ${raft.commitIndex}, applied ${raft.appliedIndex}`,
    `  ${raft.quorum.canCommit ? 'can commit' : 'CANNOT COMMIT'}: ${raft.quorum.reason}`,
    '  member                    role     region     address                 last contact   match',
  ]
  for (const m of raft.members) {
    const contact = m.self ? '(self)' : m.lastContactAgoMs === null ? 'never' : `${m.lastContactAgoMs} ms ago`
    lines.push(
      `  ${m.id.padEnd(26)}${m.role.padEnd(9)}${(m.region ?? '-').padEnd(11)}${(m.address ?? '-').padEnd(24)}${contact.padEnd(15)}${m.matchIndex ?? '-'}`,
    )
  }
  return lines
}

function formatCluster(cluster: Record<string, unknown> | undefined): string[] {
  if (cluster === undefined) return []
  const regions = (cluster.regions ?? {}) as Record<string, { role: string; mode: string }>
  const pg = (cluster.pg_primary ?? {}) as { region?: string; epoch?: number }
  return [
    `cluster ${String(cluster.name)}: primary region ${String(cluster.primary_region)}, PostgreSQL primary ${pg.region ?? '?'} (epoch ${pg.epoch ?? '?'}), rules version ${String(cluster.rules_version)}`,
    ...Object.entries(regions).map(([name, r]) => `  ${name.padEnd(12)}${r.role.padEnd(11)}${r.mode}`),
  ]
}
