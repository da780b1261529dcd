import t from 'tap'
import fc from 'fast-check'
import {
  EMPTY_TOKEN,
  TokenParseError,
  formatToken,
  mergeTokens,
  parseToken,
  type CausalityToken,
} from '../../src/routing/causality-token.js'

const token = (epoch: number, lsn: bigint, wallMs: number, logical = 0): CausalityToken => ({ epoch, lsn, hlc: { wallMs, logical } })

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
    t.match((r as TokenParseError).message, /is not a causality token .*pass the text SHOW grey\.token printed, like g1\./)
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
