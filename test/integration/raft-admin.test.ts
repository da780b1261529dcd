// `grey status` and `grey cluster …` against three Greys started in this process with Raft configured: every
// state-changing call goes through a member that may not lead, is forwarded, and shows on all of them; the token,
// bad input and a Grey without Raft give sentences that say what to do.
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { parseConfig } from '../../src/config/load-config.js'
import { startProxy, type RunningProxy } from '../../src/cli/proxy-command.js'
import { adminTarget, callAdmin, clusterCommand, formatRaft, statusCommand, type AdminTarget } from '../../src/cli/cluster-command.js'
import type { RaftServerStatus } from '../../src/consensus/raft-server.js'
import { freePort } from '../fixtures/free-port.js'

const TOKEN = 'raft-admin-test-token-0123456789'
const REGIONS = ['us-east', 'eu-west', 'ap-south'] as const
const dir = mkdtempSync(join(tmpdir(), 'grey-raft-admin-'))
const log = pino({ level: process.env.GREY_TEST_LOG ?? 'silent' })
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const raftPorts = await Promise.all(REGIONS.map(() => freePort()))
const peers = REGIONS.map((region, i) => `{id: grey-${region}, address: "127.0.0.1:${raftPorts[i]}", region: ${region}}`).join(', ')

function configText(region: string, adminPort: number, raft: string): string {
  return `
proxy: {region: ${region}, instance_id: grey-${region}}
admin: {listen: "127.0.0.1:${adminPort}", token: ${TOKEN}}
cluster:
  name: testcluster
  primary_region: us-east
  regions:
    us-east: {databases: {postgres: {host: 127.0.0.1, port: 1}}}
    eu-west: {databases: {postgres: {host: 127.0.0.1, port: 2}}}
    ap-south: {databases: {postgres: {host: 127.0.0.1, port: 3}}}
consensus:
  raft: ${raft}
`
}

const proxies: RunningProxy[] = []
const targets: AdminTarget[] = []
for (const [i, region] of REGIONS.entries()) {
  const adminPort = await freePort()
  const raft = `{node_id: grey-${region}, listen: "127.0.0.1:${raftPorts[i]}", peers: [${peers}], data_dir: "${dir}/${region}", secret: raft-admin-test-secret}`
  proxies.push(await startProxy(parseConfig(configText(region, adminPort, raft)), log.child({ region })))
  targets.push({ url: `http://127.0.0.1:${adminPort}`, token: TOKEN })
}
t.teardown(async () => {
  for (const proxy of proxies) await proxy.shutdown('test end')
})

async function raftStatus(target: AdminTarget): Promise<RaftServerStatus> {
  return (await callAdmin(target, 'GET', '/status')).raft as RaftServerStatus
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== null && value !== undefined && value !== false) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

/** The target of a member that does not lead, so that every call below is forwarded. */
async function follower(): Promise<AdminTarget> {
  return until('a leader and its followers', async () => {
    const statuses = await Promise.all(targets.map(raftStatus))
    const leader = statuses.find((s) => s.role === 'leader')
    if (leader === undefined || !statuses.every((s) => s.leader === leader.nodeId && s.quorum.canCommit)) return null
    return targets[statuses.findIndex((s) => s.role === 'follower')]
  })
}

function run(args: string[], target: AdminTarget, flags: { region?: string; epoch?: string; json?: boolean } = {}): Promise<string[]> {
  const lines: string[] = []
  return clusterCommand(args, target, {
    json: flags.json ?? false,
    region: flags.region,
    epoch: flags.epoch,
    say: (l) => lines.push(l),
  }).then(() => lines)
}

t.test('grey status and grey cluster status show role, term, leader, indexes and members', async (t) => {
  const via = await follower()
  const lines: string[] = []
  await statusCommand(via, { json: false, say: (l) => lines.push(l) })
  t.match(lines[0], /^grey-\S+ \(\S+\), version .*, up \d+ s$/)
  t.match(lines[1], /^raft: grey-\S+ is follower, term \d+, leader grey-\S+, commit \d+, applied \d+$/)
  t.match(lines[2], /can commit: following grey-/)
  t.equal(lines.filter((l) => / voter /.test(l)).length, 3, 'three voters listed')
  t.match(lines.join('\n'), /\(self\)/)
  t.match(lines.join('\n'), /cluster testcluster: primary region us-east, PostgreSQL primary us-east \(epoch 0\), rules version 0/)
  const json: string[] = []
  await statusCommand(via, { json: true, say: (l) => json.push(l) })
  const status = JSON.parse(json.join('\n')) as { raft: RaftServerStatus }
  t.match(status.raft, { role: 'follower', term: Number, commitIndex: Number, appliedIndex: Number, members: Array })
  t.match(await run(['status'], via), [/^raft: /])
  t.match(JSON.parse((await run(['status'], via, { json: true })).join('\n')), {
    raft: { nodeId: String },
    cluster: { name: 'testcluster' },
  })
  t.same(formatRaft(null), ['raft: not configured (consensus.raft.peers is empty)'])
})

t.test('changes proposed on a follower show on every member', async (t) => {
  const via = await follower()
  t.match(await run(['set-primary-region', 'eu-west'], via), [/^committed at raft index \d+$/, /primary region eu-west/])
  await run(['set-region-mode', 'ap-south', 'read-only'], via)
  await run(['set-pg-primary', 'eu-west'], via, { epoch: '0' })
  const rulesFile = join(dir, 'rules.yaml')
  writeFileSync(
    rulesFile,
    '- match: {table: orders}\n  consistency: strong\n- match: {user: report}\n  consistency: bounded\n  max_staleness: 2s\n',
  )
  await run(['rules', 'apply', rulesFile], via)
  writeFileSync(rulesFile, 'rules:\n  - match: {table: orders}\n    consistency: strong\n')
  const json = JSON.parse((await run(['rules', 'apply', rulesFile], via, { json: true })).join('\n')) as Record<string, unknown>
  t.match(json, { ok: true, index: Number, cluster: { rules_version: 2 } })
  for (const target of targets) {
    const cluster = await until('the member applied the rules', async () => {
      const c = (await callAdmin(target, 'GET', '/status')).cluster as Record<string, unknown>
      return c.rules_version === 2 ? c : null
    })
    t.match(cluster, {
      primary_region: 'eu-west',
      regions: { 'eu-west': { role: 'primary', mode: 'normal' }, 'ap-south': { role: 'secondary', mode: 'read-only' } },
      pg_primary: { region: 'eu-west', epoch: 1 },
      rules: [{ match: { table: 'orders' }, consistency: 'strong' }],
    })
  }
})

t.test('refusals say why: stale epoch, bad input, unknown member, no token', async (t) => {
  const via = await follower()
  await t.rejects(
    run(['set-pg-primary', 'ap-south'], via, { epoch: '0' }),
    /the failover epoch of testcluster is 1, not 0; nothing changed/,
  )
  await t.rejects(run(['set-primary-region', 'mars'], via), /\/cluster\/primary-region: region: one of us-east, eu-west, ap-south/)
  await t.rejects(run(['set-region-mode', 'us-east', 'off'], via), /mode: /)
  const bad = join(dir, 'bad-rules.yaml')
  writeFileSync(bad, '- match: {}\n  consistency: sometimes\n')
  await t.rejects(run(['rules', 'apply', bad], via), /\/cluster\/rules: rules\.0\./)
  writeFileSync(bad, '- [unclosed\n')
  await t.rejects(run(['rules', 'apply', bad], via), /cannot read rules from/)
  await t.rejects(run(['rules', 'apply', join(dir, 'missing.yaml')], via), /cannot read rules from .*ENOENT/)
  await t.rejects(run(['rules', 'list'], via), /takes "apply FILE"/)
  await t.rejects(run(['promote', 'grey-nobody'], via), /no raft member named "grey-nobody"; the members are grey-/)
  await t.rejects(run(['promote', 'grey-us-east'], via), /is not a learner/)
  await t.rejects(run(['add-learner', 'x', 'not-an-address'], via), /address: a host:port/)
  await t.rejects(run(['set-primary-region'], via), /needs a REGION/)
  await t.rejects(run(['frobnicate'], via), /unknown cluster command "frobnicate"/)
  await t.rejects(run(['set-primary-region', 'us-east'], { url: via.url, token: undefined }), /needs the admin token.*pass --token/)
  await t.rejects(callAdmin(via, 'GET', '/cluster/rules'), /use POST \/cluster\/rules/)
  const res = await fetch(`${via.url}/cluster/rules`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: '{nope' })
  t.equal(res.status, 400)
  t.match(await res.json(), { error: /takes a JSON body/ })
  const huge = await fetch(`${via.url}/cluster/rules`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ rules: 'x'.repeat(2 * 1024 * 1024) }),
  })
  t.equal(huge.status, 400)
  t.match(await huge.json(), { error: /a request body larger than 1048576 bytes/ })
  const empty = await fetch(`${via.url}/cluster/remove`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })
  t.match(await empty.json(), { error: /\/cluster\/remove: id: / }, 'an empty body is an empty object')
  await t.rejects(
    callAdmin({ url: `http://127.0.0.1:${await freePort()}`, token: TOKEN }, 'GET', '/status'),
    /cannot reach the Grey admin API/,
  )
})

t.test('a learner added through any member follows the log; promote and remove it', async (t) => {
  const via = await follower()
  const [raftPort, adminPort] = [await freePort(), await freePort()]
  const raft = `{node_id: grey-us-east-2, listen: "127.0.0.1:${raftPort}", peers: [${peers}], data_dir: "${dir}/learner", secret: raft-admin-test-secret}`
  const learner = await startProxy(parseConfig(configText('us-east', adminPort, raft)), log.child({ region: 'learner' }))
  t.teardown(() => learner.shutdown('test end'))
  const learnerTarget = { url: `http://127.0.0.1:${adminPort}`, token: TOKEN }
  t.match(await raftStatus(learnerTarget), { role: 'learner', leader: null })
  t.match(await run(['add-learner', 'grey-us-east-2', `127.0.0.1:${raftPort}`], via, { region: 'us-east' }), [/^committed/])
  await until('the learner caught up', async () => {
    const [mine, theirs] = await Promise.all([raftStatus(learnerTarget), raftStatus(via)])
    return mine.appliedIndex >= theirs.commitIndex && mine.leader !== null
  })
  const cluster = (await callAdmin(learnerTarget, 'GET', '/status')).cluster as Record<string, unknown>
  t.match(cluster, { primary_region: 'eu-west', rules_version: 2 }, 'it applied the same state')
  await run(['promote', 'grey-us-east-2'], via)
  await until('four voters', async () => (await raftStatus(via)).quorum.voters === 4)
  t.match(await raftStatus(learnerTarget), { role: 'follower' })
  await run(['remove', 'grey-us-east-2'], via)
  await until('three voters', async () => (await raftStatus(via)).quorum.voters === 3)
})

t.test('a Grey without Raft says there is nothing to change', async (t) => {
  const adminPort = await freePort()
  const plain = await startProxy(parseConfig(configText('us-east', adminPort, '{}')), log)
  t.teardown(() => plain.shutdown('test end'))
  t.equal(plain.raft, null)
  const target = { url: `http://127.0.0.1:${adminPort}`, token: TOKEN }
  t.match(await run(['status'], target), ['raft: not configured (consensus.raft.peers is empty)', /cluster testcluster/])
  await t.rejects(run(['set-primary-region', 'eu-west'], target), /runs without Raft/)
})

t.test('the admin target comes from flags, the environment, or a config file', (t) => {
  t.same(adminTarget({}, {}), { url: 'http://127.0.0.1:9187', token: undefined })
  t.same(adminTarget({ admin: 'http://h:1/', token: 'x' }, {}), { url: 'http://h:1', token: 'x' })
  t.same(adminTarget({}, { GREY_ADMIN_URL: 'h:2', GREY_ADMIN_TOKEN: 'y' }), { url: 'http://h:2', token: 'y' })
  const file = join(dir, 'grey.yaml')
  writeFileSync(file, configText('us-east', 9999, '{}'))
  t.same(adminTarget({ config: file }, {}), { url: 'http://127.0.0.1:9999', token: TOKEN })
  t.end()
})
