import t from 'tap'
import fc from 'fast-check'
import {
  EMPTY_TOKEN,
  TokenParseError,
  formatToken,
  mergeTokens,
  observeCql,
  parseToken,
  type CausalityToken,
} from '../../src/routing/causality-token.js'

const token = (epoch: number, lsn: bigint, wallMs: number, logical = 0): CausalityToken => ({
  epoch,
  lsn,
  hlc: { wallMs, logical },
  cql: {},
})

t.test('text form round-trips', async (t) => {
  const tk = token(3, 0x3000060n, 1_700_000_000_000, 7)
  t.equal(formatToken(tk), 'g1.3.0/3000060.018bcfe568000007')
  t.same(parseToken(formatToken(tk)), tk)
  t.same(parseToken(' g1.3.0/3000060.018bcfe568000007\n'), tk, 'surrounding white space is forgiven')
  t.equal(formatToken(EMPTY_TOKEN), 'g1.0.0/0.0000000000000000')
  const arb = fc.record({
    epoch: fc.integer({ min: 0, max: 999_999_999 }),
    lsn: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    hlc: fc.record({ wallMs: fc.integer({ min: 0, max: 2 ** 48 - 1 }), logical: fc.integer({ min: 0, max: 0xffff }) }),
    cql: fc.dictionary(
      fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/),
      fc.record({ wallMs: fc.integer({ min: 0, max: 2 ** 48 - 1 }), logical: fc.integer({ min: 0, max: 0xffff }) }),
      { maxKeys: 5 },
    ),
  })
  fc.assert(
    fc.property(
      arb,
      (tk) =>
        JSON.stringify(parseToken(formatToken(tk)), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)) ===
        JSON.stringify(tk, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
    ),
  )
})

t.test('anything else is refused with a sentence that shows the expected form', async (t) => {
  for (const bad of ['', 'g2.0.0/0.0000000000000000', 'g1.0.0/0', 'g1.x.0/0.0000000000000000', 'g1.0.0/0.00000000000000zz', 'SELECT 1']) {
    const r = parseToken(bad)
    t.ok(r instanceof TokenParseError, JSON.stringify(bad))
    t.match(
      (r as TokenParseError).message,
      /is not a causality token .*pass the text Grey handed out \(SHOW grey\.token, or the grey\.token custom payload of a CQL response\), like g1\./,
    )
  }
})

t.test('merge: max LSN within an epoch, the later epoch across, the later HLC always', async (t) => {
  t.same(mergeTokens(token(1, 100n, 5), token(1, 200n, 4)), token(1, 200n, 5))
  t.same(mergeTokens(token(1, 900n, 9), token(2, 10n, 4)), token(2, 10n, 9), 'a new epoch: its position, whatever the old one said')
  t.same(mergeTokens(token(2, 10n, 4), token(1, 900n, 9)), token(2, 10n, 9))
  const a = token(1, 5n, 5)
  t.same(mergeTokens(a, EMPTY_TOKEN), a, 'merging the empty token changes nothing')
})

t.test('a long bad token is shortened in the sentence', async (t) => {
  const r = parseToken('x'.repeat(500))
  t.ok(r instanceof TokenParseError)
  t.match((r as TokenParseError).message, /^grey: "x{60}…" is not a causality token/)
})

const at = (wallMs: number, logical = 0) => ({ wallMs, logical })

t.test('CQL entries: per DC, merged by max, in the text form after the HLC', async (t) => {
  const a: CausalityToken = { ...token(0, 0n, 10), cql: { 'eu-west': at(10), 'us-east': at(3) } }
  const b: CausalityToken = { ...token(0, 0n, 8), cql: { 'us-east': at(8), 'ap-south': at(1) } }
  t.same(mergeTokens(a, b).cql, { 'eu-west': at(10), 'us-east': at(8), 'ap-south': at(1) })
  t.same(mergeTokens(token(1, 5n, 1), { ...token(2, 1n, 1), cql: { 'eu-west': at(4) } }).cql, { 'eu-west': at(4) }, 'across epochs too')
  const text = formatToken(a)
  t.equal(text, 'g1.0.0/0.00000000000a0000.eu-west:00000000000a0000.us-east:0000000000030000')
  t.same(parseToken(text), a)
  t.same(
    (parseToken('g1.0.0/0.0000000000000000.eu-west:0000000000010000.eu-west:0000000000020000') as CausalityToken).cql,
    {
      'eu-west': at(2),
    },
    'a DC named twice keeps its later entry',
  )
  for (const bad of [
    'g1.0.0/0.0000000000000000.EU:0000000000010000',
    'g1.0.0/0.0000000000000000.eu-west',
    'g1.0.0/0.0000000000000000.eu-west:01',
    'g1.0.0/0.0000000000000000.' + Array.from({ length: 33 }, (_, i) => `r${i}:0000000000010000`).join('.'),
  ]) {
    t.ok(parseToken(bad) instanceof TokenParseError, bad.slice(0, 60))
  }
})

t.test('observeCql: the serving DC moves to the request time, old entries are forgotten, the HLC follows', async (t) => {
  const start: CausalityToken = { ...token(0, 0n, 5), cql: { 'us-east': at(100), 'ap-south': at(2) } }
  const next = observeCql(start, 'eu-west', at(200, 3), 50)
  t.same(next.cql, { 'eu-west': at(200, 3), 'us-east': at(100) }, 'ap-south at 2 ms is older than the horizon of 50')
  t.same(next.hlc, at(200, 3))
  t.same(observeCql(next, 'us-east', at(90), 0).cql['us-east'], at(100), 'an entry never moves back')
  const many = Array.from({ length: 40 }, (_, i) => `r${i}`).reduce((tk, r, i) => observeCql(tk, r, at(1000 + i), 0), EMPTY_TOKEN)
  t.equal(Object.keys(many.cql).length, 32, 'at most 32 DCs are kept')
  t.ok(many.cql.r39 !== undefined && many.cql.r0 === undefined, 'the newest ones')
  t.same(parseToken(formatToken(many)), many, 'and the text of a full token parses')
})
