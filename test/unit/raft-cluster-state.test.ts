// The replicated cluster state as a table of commands and what they leave behind; snapshots; the merged view of
// config and state; and the tick arithmetic of the shell.
import t from 'tap'
import { parseConfig } from '../../src/config/load-config.js'
import { decodeClusterCommand, encodeClusterCommand, type ClusterCommand } from '../../src/consensus/cluster-command.js'
import { ClusterState } from '../../src/consensus/cluster-state.js'
import { clusterView } from '../../src/consensus/cluster-view.js'
import { raftNodeId } from '../../src/consensus/raft-node-id.js'
import { raftTiming } from '../../src/consensus/raft-timing.js'

const bootstrap = { voters: [3, 1, 2], learners: [] }
const apply = (state: ClusterState, index: number, command: ClusterCommand) => state.apply(index, encodeClusterCommand(command))

t.test('commands apply in order; each leaves the applied index behind', (t) => {
  const state = new ClusterState(bootstrap)
  t.same(state.data, {
    primaryRegion: null,
    regionModes: {},
    pgPrimaries: {},
    rules: null,
    members: {},
    membership: { voters: [1, 2, 3], learners: [] },
    appliedIndex: 0,
  })
  const cases: Array<[ClusterCommand, Partial<typeof state.data>]> = [
    [{ type: 'set-primary-region', region: 'eu-west' }, { primaryRegion: 'eu-west' }],
    [{ type: 'set-region-mode', region: 'ap-south', mode: 'read-only' }, { regionModes: { 'ap-south': 'read-only' } }],
    [
      { type: 'set-region-mode', region: 'us-east', mode: 'quarantined' },
      { regionModes: { 'ap-south': 'read-only', 'us-east': 'quarantined' } },
    ],
    [
      { type: 'set-pg-primary', cluster: 'grey', region: 'eu-west', expectedEpoch: 0 },
      { pgPrimaries: { grey: { region: 'eu-west', epoch: 1 } } },
    ],
    [
      { type: 'set-pg-primary', cluster: 'grey', region: 'us-east', expectedEpoch: null },
      { pgPrimaries: { grey: { region: 'us-east', epoch: 2 } } },
    ],
    [
      { type: 'apply-rules', rules: [{ match: { table: 'orders' }, consistency: 'strong' }] },
      { rules: { version: 1, rules: [{ match: { table: 'orders' }, consistency: 'strong' }] } },
    ],
    [{ type: 'apply-rules', rules: [] }, { rules: { version: 2, rules: [] } }],
    [
      { type: 'register-member', id: 'grey-extra', address: '127.0.0.1:7500', region: 'us-east' },
      { members: { 'grey-extra': { nodeId: raftNodeId('grey-extra'), address: '127.0.0.1:7500', region: 'us-east' } } },
    ],
  ]
  cases.forEach(([command, expected], i) => {
    t.same(apply(state, i + 1, command), { ok: true }, command.type)
    t.match(state.data, { ...expected, appliedIndex: i + 1 })
  })
  t.end()
})

t.test('refusals change nothing but the applied index, the same on every member', (t) => {
  const state = new ClusterState(bootstrap)
  apply(state, 1, { type: 'set-pg-primary', cluster: 'grey', region: 'eu-west', expectedEpoch: 0 })
  const before = state.data
  t.same(apply(state, 2, { type: 'set-pg-primary', cluster: 'grey', region: 'ap-south', expectedEpoch: 0 }), {
    ok: false,
    error: 'grey: the failover epoch of grey is 1, not 0; nothing changed',
  })
  t.match(state.apply(3, Buffer.from('not json')), { ok: false, error: /not JSON/ })
  t.match(state.apply(4, Buffer.from('{"type":"drop-table"}')), { ok: false, error: /unknown shape \(type/ })
  t.same({ ...state.data, appliedIndex: 1 }, before)
  t.equal(state.data.appliedIndex, 4)
  t.end()
})

t.test("a failover's entry says the primary it replaced was down; a snapshot keeps that", (t) => {
  const state = new ClusterState(bootstrap)
  apply(state, 1, { type: 'set-pg-primary', cluster: 'grey', region: 'eu-west', expectedEpoch: 0, predecessorDown: true })
  t.same(state.data.pgPrimaries.grey, { region: 'eu-west', epoch: 1, predecessorDown: true })
  apply(state, 2, { type: 'set-pg-primary', cluster: 'grey', region: 'us-east', expectedEpoch: 1, predecessorDown: false })
  t.same(state.data.pgPrimaries.grey, { region: 'us-east', epoch: 2 }, 'an operator or switchover entry: absent, not false')
  apply(state, 3, { type: 'set-pg-primary', cluster: 'grey', region: 'ap-south', expectedEpoch: 2, predecessorDown: true })
  const restored = new ClusterState(bootstrap)
  restored.restore(state.snapshot())
  t.same(restored.data.pgPrimaries.grey, { region: 'ap-south', epoch: 3, predecessorDown: true })
  t.end()
})

t.test('two names with one node id cannot both register', (t) => {
  const pair = ['grey-319', 'grey-883734'] as const
  const state = new ClusterState(bootstrap)
  t.same(apply(state, 1, { type: 'register-member', id: pair[0], address: 'a:1', region: null }), { ok: true })
  t.same(
    apply(state, 2, { type: 'register-member', id: pair[0], address: 'a:2', region: null }),
    { ok: true },
    'a new address for the same name',
  )
  t.match(apply(state, 3, { type: 'register-member', id: pair[1], address: 'b:1', region: null }), {
    ok: false,
    error: new RegExp(`has the node id of ${pair[0]}`),
  })
  t.end()
})

t.test('membership mirrors the conf changes; a removed member’s registration goes', (t) => {
  const state = new ClusterState(bootstrap)
  const id = raftNodeId('grey-extra')
  apply(state, 1, { type: 'register-member', id: 'grey-extra', address: '127.0.0.1:7500', region: null })
  state.applyConfChange(2, { kind: 'add-learner', nodeId: id })
  t.same(state.data.membership, { voters: [1, 2, 3], learners: [id] })
  state.applyConfChange(3, { kind: 'promote-learner', nodeId: id })
  t.same(state.data.membership, { voters: [1, 2, 3, id].sort((a, b) => a - b), learners: [] })
  state.applyConfChange(4, { kind: 'remove-node', nodeId: id })
  t.same(state.data.membership, { voters: [1, 2, 3], learners: [] })
  t.same(state.data.members, {})
  state.skip(5)
  t.equal(state.data.appliedIndex, 5)
  t.end()
})

t.test('snapshot and restore carry the whole state', (t) => {
  const state = new ClusterState(bootstrap)
  apply(state, 1, { type: 'set-primary-region', region: 'eu-west' })
  apply(state, 2, { type: 'apply-rules', rules: [{ match: { user: 'report' }, consistency: 'bounded', max_staleness: 2000 }] })
  apply(state, 3, { type: 'register-member', id: 'x', address: 'h:1', region: 'us-east' })
  state.applyConfChange(4, { kind: 'add-learner', nodeId: raftNodeId('x') })
  const copy = new ClusterState({ voters: [9], learners: [] })
  copy.restore(state.snapshot())
  t.same(copy.data, state.data)
  t.throws(() => copy.restore(Buffer.from('{"format":2}')), /format/)
  t.end()
})

t.test('commands encode as JSON and decode with a check', (t) => {
  const command: ClusterCommand = { type: 'set-region-mode', region: 'us-east', mode: 'normal' }
  t.same(decodeClusterCommand(encodeClusterCommand(command)), command)
  t.match(decodeClusterCommand(Buffer.from('{"type":"set-region-mode","region":"us-east","mode":"off"}')), /unknown shape \(mode/)
  t.end()
})

t.test('the view: the config, overridden by what the log decided', (t) => {
  const config = parseConfig(`
proxy: {region: eu-west}
cluster:
  name: prod
  primary_region: us-east
  regions:
    us-east: {databases: {postgres: {host: a}}}
    eu-west: {databases: {postgres: {host: b}}}
routing:
  rules: [{match: {table: t}, consistency: eventual}]
`)
  const configured = clusterView(config, null)
  t.same(configured, {
    name: 'prod',
    primaryRegion: 'us-east',
    regions: { 'us-east': { role: 'primary', mode: 'normal' }, 'eu-west': { role: 'secondary', mode: 'normal' } },
    pgPrimary: { region: 'us-east', epoch: 0 },
    rules: { version: 0, rules: [{ match: { table: 't' }, consistency: 'eventual' }] },
  })
  const state = new ClusterState(bootstrap)
  apply(state, 1, { type: 'set-primary-region', region: 'eu-west' })
  apply(state, 2, { type: 'set-region-mode', region: 'us-east', mode: 'read-only' })
  apply(state, 3, { type: 'set-pg-primary', cluster: 'prod', region: 'eu-west', expectedEpoch: 0 })
  apply(state, 4, { type: 'apply-rules', rules: [] })
  t.same(clusterView(config, state.data), {
    name: 'prod',
    primaryRegion: 'eu-west',
    regions: { 'us-east': { role: 'secondary', mode: 'read-only' }, 'eu-west': { role: 'primary', mode: 'normal' } },
    pgPrimary: { region: 'eu-west', epoch: 1 },
    rules: { version: 1, rules: [] },
  })
  const noPostgres = parseConfig('proxy: {region: a}\ncluster: {regions: {a: {}}}')
  t.same(clusterView(noPostgres, null).pgPrimary, { region: 'a', epoch: 0 }, 'without postgres nodes the primary region stands in')
  t.end()
})

t.test('ticks: about 25 ms, the heartbeat a whole number of them', (t) => {
  t.same(raftTiming(500, 150), { tickMs: 25, electionTicks: 20, heartbeatTicks: 6 })
  t.same(raftTiming(1000, 100), { tickMs: 25, electionTicks: 40, heartbeatTicks: 4 })
  t.same(raftTiming(30, 10), { tickMs: 10, electionTicks: 3, heartbeatTicks: 1 })
  t.same(raftTiming(20, 19), { tickMs: 19, electionTicks: 3, heartbeatTicks: 1 }, 'at least 3 election ticks, above the heartbeat')
  t.end()
})
