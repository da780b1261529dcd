import t from 'tap'
import { EMPTY_TOKEN, type CausalityToken } from '../../src/routing/causality-token.js'
import { tokenReadDcs } from '../../src/routing/token-read-dcs.js'

const at = (wallMs: number, logical = 0) => ({ wallMs, logical })
const token = (cql: CausalityToken['cql']): CausalityToken => ({ ...EMPTY_TOKEN, cql })
// This Grey is in eu-west: candidates nearest first. Windows: 300 ms between eu-west and us-east, 500 ms otherwise.
const CANDIDATES = ['eu-west', 'us-east', 'ap-south']
const window = (from: string, to: string): number => (from === to ? 0 : [from, to].sort().join() === 'eu-west,us-east' ? 300 : 500)

t.test('the local DC when every entry has had time to reach it', async (t) => {
  t.same(tokenReadDcs(EMPTY_TOKEN, CANDIDATES, 1000, window), [], 'an empty token')
  t.same(tokenReadDcs(token({ 'eu-west': at(999) }), CANDIDATES, 1000, window), [], 'only local entries')
  t.same(tokenReadDcs(token({ 'us-east': at(700) }), CANDIDATES, 1000, window), [], 'us-east exactly its window old')
  t.same(tokenReadDcs(token({ 'us-east': at(701) }), CANDIDATES, 1000, window), ['us-east'], 'one ms younger: us-east')
})

t.test('another DC that sees everything: the entry DC, when the local entries have reached it', async (t) => {
  t.same(tokenReadDcs(token({ 'ap-south': at(900) }), CANDIDATES, 1000, window), ['ap-south'])
  t.same(
    tokenReadDcs(token({ 'ap-south': at(900), 'eu-west': at(100) }), CANDIDATES, 1000, window),
    ['ap-south'],
    'an old local entry does not hold the read back',
  )
  t.same(
    tokenReadDcs(token({ 'us-east': at(900), 'eu-west': at(990) }), CANDIDATES, 1000, window),
    ['us-east', 'eu-west'],
    "a fresh local write and a fresh us-east entry: no DC has both (the session's own write must not be lost)",
  )
  t.same(tokenReadDcs(token({ 'us-east': at(5000) }), CANDIDATES, 1000, window), ['us-east'], 'a token from a clock ahead is young')
})

t.test('several fresh entries: the DCs still replicating, for a read at ALL', async (t) => {
  t.same(tokenReadDcs(token({ 'us-east': at(900), 'ap-south': at(950) }), CANDIDATES, 1000, window), ['us-east', 'ap-south'])
  t.same(
    tokenReadDcs(token({ 'mars-1': at(990) }), CANDIDATES, 1000, window),
    ['mars-1', 'eu-west'],
    'a region Grey does not know: no DC can be shown to have it',
  )
})
