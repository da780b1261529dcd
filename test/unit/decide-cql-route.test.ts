import t from 'tap'
import fc from 'fast-check'
import type { ConsistencyLevel } from '../../src/config/config-schema.js'
import type { GreyHints } from '../../src/routing/grey-hints.js'
import { CqlConsistency, cqlConsistencyName, grayLevelOfCql, type CqlConsistencyName } from '../../src/routing/cql-consistency.js'
import { decideCqlRoute, type CqlDatacenter, type CqlRouteInput } from '../../src/routing/decide-cql-route.js'

const dc = (region: string): CqlDatacenter => ({ region, datacenter: `dc-${region}` })
const US = dc('us-east')
const EU = dc('eu-west')
const AP = dc('ap-south')
const ALL_HEALTHY = { 'us-east': true, 'eu-west': true, 'ap-south': true }

// This Grey runs in eu-west; the primary region is us-east.
const base: CqlRouteInput = {
  classification: { access: 'read', hints: { problems: [] }, lightweightTransaction: false, systemTable: null },
  consistency: CqlConsistency.LOCAL_QUORUM,
  serialConsistency: null,
  sessionConsistency: 'session',
  strongCqlConsistency: 'LOCAL_QUORUM',
  local: EU,
  primary: US,
  nearest: [EU, US, AP],
  healthy: ALL_HEALTHY,
}

type Level = CqlConsistencyName | null
const code = (name: Level): number | null => (name === null ? null : CqlConsistency[name])
const frame = (name: Level, serial: Level = null): Partial<CqlRouteInput> => ({ consistency: code(name), serialConsistency: code(serial) })
const hints = (h: Omit<GreyHints, 'problems'>, lightweightTransaction = false): Partial<CqlRouteInput> => ({
  classification: { access: 'read', hints: { ...h, problems: [] }, lightweightTransaction, systemTable: null },
})
const lwt = (h: Omit<GreyHints, 'problems'> = {}): Partial<CqlRouteInput> => hints(h, true)
const down = (...regions: string[]): Partial<CqlRouteInput> => ({
  healthy: { ...ALL_HEALTHY, ...Object.fromEntries(regions.map((r) => [r, false])) },
})
const QUORUM_CONFIG: Partial<CqlRouteInput> = { strongCqlConsistency: 'QUORUM' }

interface Expected {
  readonly region: string
  /** A level's name, or how cqlConsistencyName shows an unknown code. */
  readonly consistency: Level | '0x0042'
  readonly serial?: Level
  readonly reason: string
  readonly target?: 'datacenter' | 'proxy'
}
const at = (region: CqlDatacenter, consistency: Level, reason: string, serial: Level = null): Expected => ({
  region: region.region,
  consistency,
  serial,
  reason,
})

const CASES: readonly [name: string, change: Partial<CqlRouteInput>, expected: Expected][] = [
  // The frame's level (ARCHITECTURE §3)
  ['LOCAL_QUORUM is session: the local DC', {}, at(EU, 'LOCAL_QUORUM', 'session in local dc')],
  ['LOCAL_ONE is eventual: the local DC', frame('LOCAL_ONE'), at(EU, 'LOCAL_ONE', 'eventual in local dc')],
  ['ONE is eventual', frame('ONE'), at(EU, 'ONE', 'eventual in local dc')],
  ['TWO is eventual', frame('TWO'), at(EU, 'TWO', 'eventual in local dc')],
  ['THREE is eventual', frame('THREE'), at(EU, 'THREE', 'eventual in local dc')],
  ['an ANY write is eventual and stays local', frame('ANY'), at(EU, 'ANY', 'eventual in local dc')],
  ['QUORUM is strong: LOCAL_QUORUM in the primary DC', frame('QUORUM'), at(US, 'LOCAL_QUORUM', 'strong in primary dc')],
  ['ALL is strong and kept', frame('ALL'), at(US, 'ALL', 'strong in primary dc')],
  ['EACH_QUORUM is strong and kept', frame('EACH_QUORUM'), at(US, 'EACH_QUORUM', 'strong in primary dc')],
  ['SERIAL read: the primary DC, level kept', frame('SERIAL'), at(US, 'SERIAL', 'serial consistency in primary dc')],
  ['LOCAL_SERIAL read: the primary DC', frame('LOCAL_SERIAL'), at(US, 'LOCAL_SERIAL', 'serial consistency in primary dc')],

  // Hints beat the frame's level
  [
    'strong hint raises LOCAL_ONE',
    { ...frame('LOCAL_ONE'), ...hints({ consistency: 'strong' }) },
    at(US, 'LOCAL_QUORUM', 'strong in primary dc'),
  ],
  ['strong hint raises ANY', { ...frame('ANY'), ...hints({ consistency: 'strong' }) }, at(US, 'LOCAL_QUORUM', 'strong in primary dc')],
  [
    'eventual hint keeps a QUORUM frame local',
    { ...frame('QUORUM'), ...hints({ consistency: 'eventual' }) },
    at(EU, 'QUORUM', 'eventual in local dc'),
  ],
  [
    'session hint on LOCAL_ONE: local, level kept',
    { ...frame('LOCAL_ONE'), ...hints({ consistency: 'session' }) },
    at(EU, 'LOCAL_ONE', 'session in local dc'),
  ],
  [
    'eventual hint on a LOCAL_SERIAL read: local',
    { ...frame('LOCAL_SERIAL'), ...hints({ consistency: 'eventual' }) },
    at(EU, 'LOCAL_SERIAL', 'eventual in local dc'),
  ],
  [
    'strong hint on LOCAL_SERIAL: a serial read',
    { ...frame('LOCAL_SERIAL'), ...hints({ consistency: 'strong' }) },
    at(US, 'LOCAL_SERIAL', 'serial consistency in primary dc'),
  ],
  [
    'max_staleness is bounded, served as strong',
    { ...frame('LOCAL_ONE'), ...hints({ consistency: 'bounded', maxStalenessMs: 2000 }) },
    at(US, 'LOCAL_QUORUM', 'bounded served as strong'),
  ],
  [
    'route=primary moves an eventual request, level kept',
    { ...frame('LOCAL_ONE'), ...hints({ route: 'primary' }) },
    at(US, 'LOCAL_ONE', 'hint route=primary'),
  ],
  [
    'route=primary on a strong request changes nothing',
    { ...frame('QUORUM'), ...hints({ route: 'primary' }) },
    at(US, 'LOCAL_QUORUM', 'strong in primary dc'),
  ],
  [
    'route=replica is not a CQL route: ignored',
    { ...frame('QUORUM'), ...hints({ route: 'replica' }) },
    at(US, 'LOCAL_QUORUM', 'strong in primary dc'),
  ],

  // strong_cql_consistency: QUORUM
  [
    'QUORUM config: strong from the local DC at QUORUM',
    { ...QUORUM_CONFIG, ...frame('QUORUM') },
    at(EU, 'QUORUM', 'strong quorum from local dc'),
  ],
  [
    'QUORUM config: a strong hint raises LOCAL_QUORUM',
    { ...QUORUM_CONFIG, ...hints({ consistency: 'strong' }) },
    at(EU, 'QUORUM', 'strong quorum from local dc'),
  ],
  ['QUORUM config: ALL kept', { ...QUORUM_CONFIG, ...frame('ALL') }, at(EU, 'ALL', 'strong quorum from local dc')],
  ['QUORUM config: bounded', { ...QUORUM_CONFIG, ...hints({ consistency: 'bounded' }) }, at(EU, 'QUORUM', 'bounded served as strong')],
  [
    'QUORUM config: route=primary moves it',
    { ...QUORUM_CONFIG, ...frame('QUORUM'), ...hints({ route: 'primary' }) },
    at(US, 'QUORUM', 'hint route=primary'),
  ],
  ['QUORUM config: session stays local', QUORUM_CONFIG, at(EU, 'LOCAL_QUORUM', 'session in local dc')],
  [
    'QUORUM config: a SERIAL read still in the primary DC',
    { ...QUORUM_CONFIG, ...frame('SERIAL') },
    at(US, 'SERIAL', 'serial consistency in primary dc'),
  ],

  // Lightweight transactions
  [
    'LWT: the primary DC with LOCAL_SERIAL as sent',
    { ...frame('LOCAL_QUORUM', 'LOCAL_SERIAL'), ...lwt() },
    at(US, 'LOCAL_QUORUM', 'lightweight transaction in primary dc', 'LOCAL_SERIAL'),
  ],
  [
    'LWT: SERIAL as sent',
    { ...frame('LOCAL_ONE', 'SERIAL'), ...lwt() },
    at(US, 'LOCAL_ONE', 'lightweight transaction in primary dc', 'SERIAL'),
  ],
  [
    'LWT without serial consistency (Cassandra uses SERIAL)',
    { ...frame('LOCAL_QUORUM'), ...lwt() },
    at(US, 'LOCAL_QUORUM', 'lightweight transaction in primary dc'),
  ],
  [
    'LWT: an eventual hint cannot move it',
    { ...frame('LOCAL_ONE', 'LOCAL_SERIAL'), ...lwt({ consistency: 'eventual' }) },
    at(US, 'LOCAL_ONE', 'lightweight transaction in primary dc', 'LOCAL_SERIAL'),
  ],
  [
    'LWT: strong raises the commit level',
    { ...frame('ONE', 'LOCAL_SERIAL'), ...lwt({ consistency: 'strong' }) },
    at(US, 'LOCAL_QUORUM', 'lightweight transaction in primary dc', 'LOCAL_SERIAL'),
  ],
  [
    'LWT: QUORUM commit is strong, made LOCAL_QUORUM',
    { ...frame('QUORUM', 'SERIAL'), ...lwt() },
    at(US, 'LOCAL_QUORUM', 'lightweight transaction in primary dc', 'SERIAL'),
  ],
  [
    'LWT under QUORUM config: still the primary DC',
    { ...QUORUM_CONFIG, ...frame('QUORUM', 'LOCAL_SERIAL'), ...lwt() },
    at(US, 'QUORUM', 'lightweight transaction in primary dc', 'LOCAL_SERIAL'),
  ],

  // No level in the frame, or an unknown one: the session's level
  ['PREPARE (no level), session default', frame(null), at(EU, null, 'session in local dc')],
  [
    'PREPARE with a strong session: nothing to raise',
    { ...frame(null), sessionConsistency: 'strong' },
    at(US, null, 'strong in primary dc'),
  ],
  ['PREPARE with an eventual session', { ...frame(null), sessionConsistency: 'eventual' }, at(EU, null, 'eventual in local dc')],
  [
    'an unknown code: the session level, code kept',
    { consistency: 0x42 },
    { region: 'eu-west', consistency: '0x0042', reason: 'session in local dc' },
  ],
  [
    'an unknown code with a strong session: raised',
    { consistency: 0x42, sessionConsistency: 'strong' },
    at(US, 'LOCAL_QUORUM', 'strong in primary dc'),
  ],

  // Causality tokens (src/routing/token-read-dcs.ts names the DCs)
  ['a token without pending DCs: the local DC', { carriesToken: true }, at(EU, 'LOCAL_QUORUM', 'session in local dc')],
  [
    "a token naming one other DC: the read goes there at the frame's level",
    { carriesToken: true, tokenRegions: [US] },
    at(US, 'LOCAL_QUORUM', "session read in the token's dc"),
  ],
  [
    'a token raises LOCAL_ONE (eventual) to session',
    { ...frame('LOCAL_ONE'), carriesToken: true, tokenRegions: [AP] },
    at(AP, 'LOCAL_ONE', "session read in the token's dc"),
  ],
  [
    'a token with several pending DCs: ALL from the local DC',
    { carriesToken: true, tokenRegions: [US, AP] },
    at(EU, 'ALL', "session read at ALL for the token's dcs"),
  ],
  [
    'an eventual hint beats the token',
    { ...hints({ consistency: 'eventual' }), carriesToken: true, tokenRegions: [US] },
    at(EU, 'LOCAL_QUORUM', 'eventual in local dc'),
  ],
  [
    'a strong frame level stays strong with a token',
    { ...frame('QUORUM'), carriesToken: true, tokenRegions: [AP] },
    at(US, 'LOCAL_QUORUM', 'strong in primary dc'),
  ],
  [
    'a write with a token stays local (its HLC stamp orders it after the token)',
    {
      classification: { access: 'write', hints: { problems: [] }, lightweightTransaction: false, systemTable: null },
      carriesToken: true,
      tokenRegions: [US],
    },
    at(EU, 'LOCAL_QUORUM', 'session in local dc'),
  ],
  [
    "the token's DC down: the local DC, flagged",
    { ...down('us-east'), carriesToken: true, tokenRegions: [US] },
    at(EU, 'LOCAL_QUORUM', 'token dc unhealthy'),
  ],
  [
    "one of the token's DCs down: the local DC at the frame's level, not ALL",
    { ...down('ap-south'), carriesToken: true, tokenRegions: [US, AP] },
    at(EU, 'LOCAL_QUORUM', 'token dc unhealthy'),
  ],
  [
    "the token's DC and the local DC down: the nearest healthy one",
    { ...down('us-east', 'eu-west'), carriesToken: true, tokenRegions: [US] },
    at(AP, 'LOCAL_QUORUM', 'local dc unhealthy'),
  ],

  // Affinity: the row's home DC
  ['affinity: a session read goes to the home DC', { home: AP }, at(AP, 'LOCAL_QUORUM', 'affinity: home dc')],
  [
    'affinity: a write goes to the home DC at its level',
    {
      ...frame('LOCAL_ONE'),
      home: AP,
      classification: { access: 'write', hints: { problems: [] }, lightweightTransaction: false, systemTable: null },
    },
    at(AP, 'LOCAL_ONE', 'affinity: home dc'),
  ],
  ['affinity: an eventual read stays local', { ...frame('LOCAL_ONE'), home: AP }, at(EU, 'LOCAL_ONE', 'eventual in local dc')],
  [
    'affinity: strong meets in the home DC at LOCAL_QUORUM',
    { ...frame('ONE'), ...hints({ consistency: 'strong' }), home: AP },
    at(AP, 'LOCAL_QUORUM', 'affinity: home dc'),
  ],
  [
    'affinity: the home DC down: the nearest healthy one, at QUORUM for strong',
    { ...frame('QUORUM'), home: AP, ...down('ap-south') },
    at(EU, 'QUORUM', 'home dc unhealthy'),
  ],
  [
    'affinity: a lightweight transaction still runs in the primary DC',
    { ...lwt(), home: AP },
    at(US, 'LOCAL_QUORUM', 'lightweight transaction in primary dc'),
  ],

  // Peer tables
  [
    'system.local is answered by the proxy',
    {
      ...frame('ONE'),
      classification: {
        access: 'read',
        hints: { consistency: 'strong', problems: [] },
        lightweightTransaction: false,
        systemTable: 'local',
      },
    },
    { region: 'eu-west', consistency: 'ONE', reason: 'system table answered by proxy', target: 'proxy' },
  ],
  [
    'system.peers_v2 is answered by the proxy even with every DC down',
    {
      ...down('us-east', 'eu-west', 'ap-south'),
      classification: { access: 'read', hints: { problems: [] }, lightweightTransaction: false, systemTable: 'peers_v2' },
    },
    { region: 'eu-west', consistency: 'LOCAL_QUORUM', reason: 'system table answered by proxy', target: 'proxy' },
  ],

  // DC health
  ['local DC down: the nearest healthy DC, level kept', down('eu-west'), at(US, 'LOCAL_QUORUM', 'local dc unhealthy')],
  ['local DC down: nearest order decides', { ...down('eu-west'), nearest: [EU, AP, US] }, at(AP, 'LOCAL_QUORUM', 'local dc unhealthy')],
  ['local and next DC down', { ...down('eu-west', 'ap-south'), nearest: [EU, AP, US] }, at(US, 'LOCAL_QUORUM', 'local dc unhealthy')],
  [
    'primary DC down: strong goes to the nearest at QUORUM',
    { ...down('us-east'), ...frame('LOCAL_ONE'), ...hints({ consistency: 'strong' }) },
    at(EU, 'QUORUM', 'primary dc unhealthy'),
  ],
  ['primary DC down: strong ALL kept', { ...down('us-east'), ...frame('ALL') }, at(EU, 'ALL', 'primary dc unhealthy')],
  [
    'primary DC down: bounded at QUORUM',
    { ...down('us-east'), ...hints({ maxStalenessMs: 1, consistency: 'bounded' }) },
    at(EU, 'QUORUM', 'primary dc unhealthy'),
  ],
  [
    'primary DC down: LWT at SERIAL, commit kept',
    { ...down('us-east'), ...frame('LOCAL_QUORUM', 'LOCAL_SERIAL'), ...lwt() },
    at(EU, 'LOCAL_QUORUM', 'primary dc unhealthy', 'SERIAL'),
  ],
  [
    'primary DC down: strong LWT commits at QUORUM',
    { ...down('us-east'), ...frame('QUORUM', 'LOCAL_SERIAL'), ...lwt() },
    at(EU, 'QUORUM', 'primary dc unhealthy', 'SERIAL'),
  ],
  [
    'primary DC down: LOCAL_SERIAL read becomes SERIAL',
    { ...down('us-east'), ...frame('LOCAL_SERIAL') },
    at(EU, 'SERIAL', 'primary dc unhealthy'),
  ],
  [
    'primary DC down: SERIAL read kept',
    { ...down('us-east'), ...frame('SERIAL', 'LOCAL_SERIAL') },
    at(EU, 'SERIAL', 'primary dc unhealthy', 'SERIAL'),
  ],
  [
    'primary DC down: route=primary falls back, level kept',
    { ...down('us-east'), ...frame('LOCAL_ONE'), ...hints({ route: 'primary' }) },
    at(EU, 'LOCAL_ONE', 'primary dc unhealthy'),
  ],
  ['primary DC down: session reads are not affected', down('us-east'), at(EU, 'LOCAL_QUORUM', 'session in local dc')],
  [
    'QUORUM config, local DC down: QUORUM from the nearest',
    { ...QUORUM_CONFIG, ...down('eu-west'), ...frame('QUORUM') },
    at(US, 'QUORUM', 'local dc unhealthy'),
  ],
  [
    'every DC down: where it would have gone',
    { ...down('us-east', 'eu-west', 'ap-south'), ...frame('QUORUM') },
    at(US, 'LOCAL_QUORUM', 'no healthy dc'),
  ],
  [
    'every DC down, LWT: serial kept',
    { ...down('us-east', 'eu-west', 'ap-south'), ...frame('ONE', 'LOCAL_SERIAL'), ...lwt() },
    at(US, 'ONE', 'no healthy dc', 'LOCAL_SERIAL'),
  ],
  ['a region left out of the health map is unhealthy', { healthy: { 'us-east': true } }, at(US, 'LOCAL_QUORUM', 'local dc unhealthy')],
  ['no health known at all', { healthy: {} }, at(EU, 'LOCAL_QUORUM', 'no healthy dc')],
  [
    'an empty nearest list still falls back on local and primary',
    { ...down('us-east'), nearest: [], ...frame('QUORUM') },
    at(EU, 'QUORUM', 'primary dc unhealthy'),
  ],
  [
    'a nearest DC that is the unhealthy one is skipped',
    { ...down('us-east'), nearest: [US, AP], ...frame('QUORUM') },
    at(AP, 'QUORUM', 'primary dc unhealthy'),
  ],

  // A Grey in the primary region
  [
    'in the primary region: strong',
    { local: US, nearest: [US, EU, AP], ...frame('QUORUM') },
    at(US, 'LOCAL_QUORUM', 'strong in primary dc'),
  ],
  ['in the primary region: session', { local: US, nearest: [US, EU, AP] }, at(US, 'LOCAL_QUORUM', 'session in local dc')],
  [
    'in the primary region, its DC down: session',
    { local: US, nearest: [US, EU, AP], ...down('us-east') },
    at(EU, 'LOCAL_QUORUM', 'local dc unhealthy'),
  ],
  [
    'in the primary region, its DC down: strong',
    { local: US, nearest: [US, EU, AP], ...down('us-east'), ...frame('QUORUM') },
    at(EU, 'QUORUM', 'primary dc unhealthy'),
  ],
]

t.ok(CASES.length >= 30, `${CASES.length} cases`)
for (const [name, change, expected] of CASES) {
  const d = decideCqlRoute({ ...base, ...change })
  const shown = (c: number | null): string | null => (c === null ? null : cqlConsistencyName(c))
  t.same(
    {
      target: d.target,
      region: d.region,
      datacenter: d.datacenter,
      consistency: shown(d.consistency),
      serial: shown(d.serialConsistency),
      reason: d.reason,
    },
    {
      target: expected.target ?? 'datacenter',
      region: expected.region,
      datacenter: `dc-${expected.region}`,
      consistency: expected.consistency,
      serial: expected.serial ?? null,
      reason: expected.reason,
    },
    name,
  )
}

t.test('consistency codes and their Grey levels', async (t) => {
  t.same(
    Object.entries(CqlConsistency).map(([name, c]) => [name, c, grayLevelOfCql(c)]),
    [
      ['ANY', 0, 'eventual'],
      ['ONE', 1, 'eventual'],
      ['TWO', 2, 'eventual'],
      ['THREE', 3, 'eventual'],
      ['QUORUM', 4, 'strong'],
      ['ALL', 5, 'strong'],
      ['LOCAL_QUORUM', 6, 'session'],
      ['EACH_QUORUM', 7, 'strong'],
      ['SERIAL', 8, 'strong'],
      ['LOCAL_SERIAL', 9, 'strong'],
      ['LOCAL_ONE', 10, 'eventual'],
    ],
  )
  t.equal(grayLevelOfCql(11), undefined)
  t.equal(grayLevelOfCql(-1), undefined)
  t.equal(grayLevelOfCql(1.5), undefined)
  t.equal(cqlConsistencyName(6), 'LOCAL_QUORUM')
  t.equal(cqlConsistencyName(0x42), '0x0042')
})

const REGIONS = ['us-east', 'eu-west', 'ap-south']
const LEVELS: readonly (ConsistencyLevel | undefined)[] = [undefined, 'strong', 'bounded', 'session', 'eventual']
// Codes that overlap a LOCAL_QUORUM of the primary DC or a QUORUM of the cluster, or run Paxos.
const AT_LEAST_LOCAL_QUORUM = new Set<number>(
  (['LOCAL_QUORUM', 'QUORUM', 'EACH_QUORUM', 'ALL', 'SERIAL', 'LOCAL_SERIAL'] as const).map((n) => CqlConsistency[n]),
)

const inputs = fc.record({
  local: fc.constantFrom(...REGIONS),
  primary: fc.constantFrom(...REGIONS),
  nearest: fc.shuffledSubarray(REGIONS),
  healthy: fc.dictionary(fc.constantFrom(...REGIONS), fc.boolean()),
  consistency: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 10 }), fc.constant(0x42)),
  serialConsistency: fc.constantFrom(null, CqlConsistency.SERIAL, CqlConsistency.LOCAL_SERIAL),
  sessionConsistency: fc.constantFrom<ConsistencyLevel>('strong', 'bounded', 'session', 'eventual'),
  strongCqlConsistency: fc.constantFrom('LOCAL_QUORUM' as const, 'QUORUM' as const),
  hint: fc.constantFrom(...LEVELS),
  route: fc.constantFrom(undefined, 'primary' as const, 'replica' as const),
  lightweightTransaction: fc.boolean(),
})

t.test('property: a healthy DC whenever there is one; strong never below LOCAL_QUORUM', async (t) => {
  fc.assert(
    fc.property(inputs, (p) => {
      const input: CqlRouteInput = {
        ...p,
        local: dc(p.local),
        primary: dc(p.primary),
        nearest: p.nearest.map(dc),
        classification: {
          access: 'read',
          hints: {
            ...(p.hint === undefined ? {} : { consistency: p.hint }),
            ...(p.route === undefined ? {} : { route: p.route }),
            problems: [],
          },
          lightweightTransaction: p.lightweightTransaction,
          systemTable: null,
        },
      }
      const d = decideCqlRoute(input)
      const known = [input.local, input.primary, ...input.nearest]
      if (known.some((x) => p.healthy[x.region] === true) && p.healthy[d.region] !== true) return false
      if (d.datacenter !== `dc-${d.region}` || d.target !== 'datacenter') return false
      const frameLevel = p.consistency === null ? undefined : grayLevelOfCql(p.consistency)
      const level = p.hint ?? frameLevel ?? p.sessionConsistency
      if (level === 'strong' && d.consistency !== null && !AT_LEAST_LOCAL_QUORUM.has(d.consistency)) return false
      // Every LWT runs in the primary DC while it is healthy.
      if (p.lightweightTransaction && p.healthy[p.primary] === true && d.region !== p.primary) return false
      return true
    }),
    { numRuns: 5000 },
  )
  t.pass('held for 5000 inputs')
})

t.test('stale flags: reads served by a cut-off region, or without the DC a token names', async (t) => {
  const read = (change: Partial<CqlRouteInput>) => decideCqlRoute({ ...base, ...change }).stale
  t.equal(read({}), null, 'all DCs up: nothing is stale')
  t.equal(read(down('us-east')), null, 'one other DC down: not cut off')
  t.equal(read(down('us-east', 'ap-south')), 'eu-west is cut off from every other Cassandra DC')
  t.equal(read({ ...frame('LOCAL_ONE'), ...down('us-east', 'ap-south') }), 'eu-west is cut off from every other Cassandra DC')
  t.equal(
    read({
      ...down('us-east', 'ap-south'),
      classification: { access: 'write', hints: { problems: [] }, lightweightTransaction: false, systemTable: null },
    }),
    null,
    'a write is never flagged stale',
  )
  t.equal(read({ nearest: [EU], ...down('us-east', 'ap-south') }), null, 'a single-DC deployment is never cut off')
  t.equal(
    read({ ...down('us-east'), carriesToken: true, tokenRegions: [US] }),
    "the session's token names requests in us-east that may not have reached eu-west yet, and us-east cannot be asked",
  )
  t.match(read({ ...down('ap-south'), carriesToken: true, tokenRegions: [US, AP] }), /names requests in ap-south that/)
  t.equal(read({ carriesToken: true, tokenRegions: [US] }), null, "the token's DC answers: not stale")
})
