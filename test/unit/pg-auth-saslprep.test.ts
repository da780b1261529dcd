import t from 'tap'
import { saslprep, scramPasswordBytes, type SaslprepResult } from '../../src/pg/auth/saslprep.js'

const ok = (value: string): SaslprepResult => ({ ok: true, value })
const prohibited: SaslprepResult = { ok: false, reason: 'prohibited' }

// [input, PostgreSQL's pg_saslprep() result, why]
const CASES: Array<[string | Uint8Array, SaslprepResult, string]> = [
  // RFC 4013 §3 examples
  ['I\u00adX', ok('IX'), 'RFC 4013 #1: soft hyphen mapped to nothing'],
  ['user', ok('user'), 'RFC 4013 #2'],
  ['USER', ok('USER'), 'RFC 4013 #3: case is kept'],
  ['\u00aa', ok('a'), 'RFC 4013 #4: NFKC'],
  ['\u2168', ok('IX'), 'RFC 4013 #5: NFKC'],
  ['\u0007', ok('\u0007'), 'RFC 4013 #6 says prohibited; PostgreSQL passes any pure-ASCII string through'],
  ['\u0627\u0031', prohibited, 'RFC 4013 #7: bidi, RandAL first but not last'],
  // PostgreSQL specifics
  ['', ok(''), 'empty ASCII string passes the ASCII fast path'],
  ['ｐａｓｓ', ok('pass'), 'full-width letters are NFKC-folded'],
  ['a\u00a0b', ok('a b'), 'non-ASCII space mapped to U+0020'],
  ['a\u200bb', ok('a b'), 'U+200B is in both C.1.2 and B.1: the space mapping is checked first'],
  ['a\ufeffb\u180bc', ok('abc'), 'B.1 characters, including a BOM, are dropped'],
  ['\u00ad', prohibited, 'empty after mapping'],
  ['\u00ad\u200c', prohibited, 'empty after mapping (several)'],
  ['ｆ\u0007', prohibited, 'control character in a non-ASCII password'],
  ['ｆ\ue000', prohibited, 'private use'],
  ['😀ｆｏｏ', prohibited, 'U+1F600 is unassigned in Unicode 3.2 (table A.1): PostgreSQL uses the raw bytes'],
  ['ｆ\u0221', prohibited, 'U+0221 unassigned in Unicode 3.2'],
  ['\u0627\u0031\u0628', ok('\u0627\u0031\u0628'), 'bidi: RandAL first and last, no L'],
  ['\u0627a\u0628', prohibited, 'bidi: RandAL and L mixed'],
  ['\u0627\uff46', prohibited, 'bidi is checked before NFKC, as PostgreSQL does: U+FF46 is L'],
  ['1\u0627', prohibited, 'bidi: RandAL last but not first'],
  ['\ud800x\u00e9', prohibited, 'a lone surrogate becomes U+FFFD (C.6)'],
  [Buffer.from('pencil'), ok('pencil'), 'bytes, ASCII'],
  [Buffer.from('ｐｅｎ', 'utf8'), ok('pen'), 'bytes, UTF-8'],
  [Buffer.from([0x70, 0xe9, 0x6e]), { ok: false, reason: 'invalid-utf8' }, 'latin1 bytes are not UTF-8'],
  [Buffer.from([0xed, 0xa0, 0x80]), { ok: false, reason: 'invalid-utf8' }, 'an encoded surrogate is not UTF-8'],
  [Buffer.from([0xc0, 0xaf]), { ok: false, reason: 'invalid-utf8' }, 'overlong encoding'],
]

t.test('pg_saslprep behaviour', async (t) => {
  for (const [input, expected, why] of CASES) t.same(saslprep(input), expected, why)
})

t.test('the bytes PBKDF2 gets: prepared, or raw when SASLprep fails', async (t) => {
  t.same(scramPasswordBytes('ｐａｓｓ'), Buffer.from('pass'))
  t.same(scramPasswordBytes('😀ｆｏｏ'), Buffer.from('😀ｆｏｏ', 'utf8'), 'prohibited: raw UTF-8, no NFKC')
  t.same(scramPasswordBytes(Buffer.from([0x70, 0xe9, 0x6e])), Buffer.from([0x70, 0xe9, 0x6e]), 'invalid UTF-8: raw bytes')
  t.same(scramPasswordBytes('\u00ad'), Buffer.from([0xc2, 0xad]), 'empty after mapping: raw bytes')
  t.same(scramPasswordBytes('tab\there'), Buffer.from('tab\there'))
})
