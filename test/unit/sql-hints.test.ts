import t from 'tap'
import { checkGreyHint, parseGreyHints, stripComments } from '../../src/routing/grey-hints.js'
import { lexSql } from '../../src/routing/lex-sql.js'

// Statement → the hints it carries. Problems are matched as patterns, one per problem.
const cases: [sql: string, hints: object, problems?: RegExp[]][] = [
  ['SELECT 1', {}],
  ['/* grey: consistency=strong */ SELECT 1', { consistency: 'strong' }],
  ['SELECT 1 /*grey:consistency=EVENTUAL*/', { consistency: 'eventual' }],
  ['/* GREY: Consistency = Session */ SELECT 1', { consistency: 'session' }],
  ['/* grey: max_staleness=2s */ SELECT 1', { consistency: 'bounded', maxStalenessMs: 2000 }],
  ['/* grey: max_staleness=1.5s */ SELECT 1', { consistency: 'bounded', maxStalenessMs: 1500 }],
  ['/* grey: max_staleness=250 */ SELECT 1', { consistency: 'bounded', maxStalenessMs: 250 }],
  ['/* grey: consistency=bounded, max_staleness=1m */ SELECT 1', { consistency: 'bounded', maxStalenessMs: 60_000 }],
  ['/* grey: consistency=bounded */ SELECT 1', { consistency: 'bounded' }],
  ['/* grey: after=AAEC.0.16 */ SELECT 1', { after: 'AAEC.0.16' }],
  ["/* grey: after='a token, with a comma' */ SELECT 1", { after: 'a token, with a comma' }],
  ['/* grey: key="user:1 2" */ SELECT 1', { key: 'user:1 2' }],
  ["/* grey: key='it''s' */ SELECT 1", { key: "it's" }],
  ['INSERT INTO t VALUES (1) /* grey: queue */', { queue: true }],
  ['/* grey: queue, route=primary */ UPDATE t SET a = 1', { queue: true, route: 'primary' }],
  ['/* grey: route=REPLICA consistency=eventual */ SELECT 1', { route: 'replica', consistency: 'eventual' }],
  ['/* grey: consistency=strong,, ,route=primary, */ SELECT 1', { consistency: 'strong', route: 'primary' }],
  ['SELECT 1 -- grey: key=user:9', { key: 'user:9' }],
  ['-- grey: consistency=strong\r\nSELECT 1', { consistency: 'strong' }],
  ['/* grey: consistency=strong */ SELECT /* grey: key=k */ 1 -- grey: after=x', { consistency: 'strong', key: 'k', after: 'x' }],
  ['/* grey: consistency=strong */ SELECT 1 /* grey: consistency=strong */', { consistency: 'strong' }],
  ['/* grey: consistency=strong /* nested */ , route=primary */ SELECT 1', { consistency: 'strong', route: 'primary' }],
  ['/* note /* grey: consistency=strong */ */ SELECT 1', {}],
  ['/* grey: */ SELECT 1', {}],
  ['/* not a hint */ SELECT 1', {}],
  ['/* greyhound: consistency=strong */ SELECT 1', {}],
  ['/* grey area of the schema */ SELECT 1', {}],
  // Comment-like text inside literals and quoted identifiers is not a comment.
  ["SELECT '/* grey: consistency=strong */'", {}],
  ["SELECT '-- grey: consistency=strong'", {}],
  ["SELECT E'\\' /* grey: consistency=strong */'", {}],
  ['SELECT $$ /* grey: consistency=strong */ $$', {}],
  ['SELECT $q$ $$ -- grey: consistency=strong $q$', {}],
  ['SELECT "-- grey: consistency=strong" FROM t', {}],
  ["SELECT U&'/* grey: consistency=strong */'", {}],
  ["SELECT 'it''s' /* grey: consistency=strong */", { consistency: 'strong' }],
  ['SELECT a$b /* grey: consistency=strong */', { consistency: 'strong' }],

  // Problems: the hint is ignored, the sentence says which and how to fix it.
  [
    '/* grey: consitency=strong */ SELECT 1',
    {},
    [/^unknown grey hint "consitency" \(did you mean consistency\?\); known hints: consistency, max_staleness/],
  ],
  ['/* grey: colour=red */ SELECT 1', {}, [/^unknown grey hint "colour"; known hints:/]],
  [
    '/* grey: consistency=strongest */ SELECT 1',
    {},
    [/^grey hint consistency=strongest \(did you mean strong\?\): use one of strong, bounded, session, eventual$/],
  ],
  ['/* grey: consistency=whatever */ SELECT 1', {}, [/^grey hint consistency=whatever: use one of/]],
  ['/* grey: consistency */ SELECT 1', {}, [/^grey hint consistency needs a value, like consistency=strong$/]],
  ['/* grey: consistency= */ SELECT 1', {}, [/needs a value/]],
  ['/* grey: max_staleness=soon */ SELECT 1', {}, [/^grey hint max_staleness=soon is not a duration: write it like 500ms or 2s$/]],
  ['/* grey: max_staleness=-1s */ SELECT 1', {}, [/max_staleness=-1s is not a duration/]],
  ['/* grey: route=replicas */ SELECT 1', {}, [/^grey hint route=replicas \(did you mean replica\?\): use primary or replica$/]],
  ['/* grey: route=elsewhere */ SELECT 1', {}, [/^grey hint route=elsewhere: use primary or replica$/]],
  ['/* grey: queue=yes */ INSERT INTO t VALUES (1)', {}, [/^grey hint queue takes no value: write just "queue", not "queue=yes"$/]],
  ['/* grey: after */ SELECT 1', {}, [/^grey hint after needs a value, like after=<token from SHOW grey.token>$/]],
  ['/* grey: key= */ SELECT 1', {}, [/key needs a value, like key=user:123/]],
  ['/* grey: route */ SELECT 1', {}, [/route needs a value, like route=primary/]],
  ['/* grey: max_staleness */ SELECT 1', {}, [/max_staleness needs a value, like max_staleness=2s/]],
  [
    '/* grey: consistency=strong, max_staleness=2s */ SELECT 1',
    { consistency: 'strong' },
    [
      /^grey hint max_staleness=2s contradicts consistency=strong: max_staleness implies consistency=bounded; drop one of them \(consistency=strong applies\)$/,
    ],
  ],
  [
    '/* grey: max_staleness=2s */ SELECT 1 /* grey: consistency=eventual */',
    { consistency: 'eventual' },
    [/contradicts consistency=eventual/],
  ],
  [
    '/* grey: consistency=strong */ SELECT 1 /* grey: consistency=eventual */',
    { consistency: 'strong' },
    [/^grey hint consistency is given twice \(consistency=strong, then consistency=eventual\); the first applies$/],
  ],
  [
    '/* grey consistency=strong */ SELECT 1',
    {},
    [/^comment "grey consistency=strong" looks like a grey hint but lacks the colon: write \/\* grey: key=value \*\/$/],
  ],
  ['/* grey: =strong */ SELECT 1', {}, [/^grey hint text "=strong" is not key=value/]],
  [`/* grey: =${'x'.repeat(100)} */ SELECT 1`, {}, [/^grey hint text "=x{56}\.\.\." is not key=value/]],
  ['/* grey: route=primary =x */ SELECT 1', { route: 'primary' }, [/"=x" is not key=value/]],
  ['/* grey: colour=red, consistency=strong, route=nowhere */ SELECT 1', { consistency: 'strong' }, [/colour/, /route=nowhere/]],
]

for (const [sql, hints, problems = []] of cases) {
  t.test(sql, async (t) => {
    const { problems: got, ...values } = parseGreyHints(sql)
    t.same(values, hints, 'hints')
    t.equal(got.length, problems.length, 'problem count')
    t.match(got, problems, 'problems')
  })
}

t.test('checkGreyHint phrases problems for SET grey.* as settings', async (t) => {
  t.same(checkGreyHint('consistency', 'session', 'setting'), { values: { consistency: 'session' } })
  t.same(checkGreyHint('route', 'sideways', 'setting'), { problem: "SET grey.route = 'sideways': use primary or replica" })
  t.same(checkGreyHint('max_staleness', '5 seconds', 'setting'), {
    problem: "SET grey.max_staleness = '5 seconds' is not a duration: write it like 500ms or 2s",
  })
})

// Text → the text stripComments leaves: comments become one space; literals stay byte for byte.
const stripped: [sql: string, code: string][] = [
  ['SELECT /* c */ 1', 'SELECT 1'],
  ['SELECT 1 -- c', 'SELECT 1'],
  ['SELECT/**/1', 'SELECT 1'],
  ['SELECT 1--c\n+2', 'SELECT 1 +2'],
  ['SELECT 2*/*c*/3', 'SELECT 2* 3'],
  ['/* a /* nested */ still comment */ SELECT 1', 'SELECT 1'],
  ['SELECT\n\t1\r\n  FROM\tt\n', 'SELECT 1 FROM t'],
  ["SELECT '/* no */' -- yes", "SELECT '/* no */'"],
  ["SELECT 'a  --  b'", "SELECT 'a  --  b'"],
  ['SELECT $$ -- no $$ /* yes */', 'SELECT $$ -- no $$'],
  ['SELECT $a$ $$ /* no */ $a$', 'SELECT $a$ $$ /* no */ $a$'],
  ['SELECT "--col" FROM t -- yes', 'SELECT "--col" FROM t'],
  ["SELECT E'\\'/* no */' /* yes */", "SELECT E'\\'/* no */'"],
  ["SELECT e'\\\\' /* yes */", "SELECT e'\\\\'"],
  ["SELECT B'01', X'ff', N'x' -- yes", "SELECT B'01', X'ff', N'x'"],
  ["SELECT U&'\\0041 -- no' -- yes", "SELECT U&'\\0041 -- no'"],
  ['SELECT U&"a /* b */" -- yes', 'SELECT U&"a /* b */"'],
  ["SELECT 'a'\n'b'", "SELECT 'a'\n'b'"],
  ["SELECT 'a' -- c\n  'b'", "SELECT 'a'\n'b'"],
  ["SELECT 'a' /* c */\n'b'", "SELECT 'a' 'b'"],
  ["SELECT 'a'\n/* c */'b'", "SELECT 'a' 'b'"],
  ["SELECT $$a$$\n'b'", "SELECT $$a$$ 'b'"],
  ['SELECT $1 -- c', 'SELECT $1'],
  ['SELECT a$b, $ -- c', 'SELECT a$b, $'],
  ['SELECT 1 /* unterminated', 'SELECT 1'],
  ["SELECT 'unterminated -- no", "SELECT 'unterminated -- no"],
  ['-- only a comment', ''],
  ['', ''],
]
for (const [sql, code] of stripped) t.equal(stripComments(sql), code, JSON.stringify(sql))

// The scanner underneath: tokens, comment bodies, unterminated text.

const tokens = (sql: string): string[] => lexSql(sql).tokens.map((token) => `${token.kind}:${token.text}`)

// Text → its tokens, as kind:text.
const lexed: [sql: string, tokens: string[]][] = [
  ['SELECT a.b, "Q""r" FROM t', ['word:SELECT', 'word:a', 'punct:.', 'word:b', 'punct:,', 'quoted:"Q""r"', 'word:FROM', 'word:t']],
  [
    "E'a\\'b' e'\\\\' B'01' X'ff' N'x' U&'y' u&\"z\"",
    ["string:E'a\\'b'", "string:e'\\\\'", "string:B'01'", "string:X'ff'", "string:N'x'", "string:U&'y'", 'quoted:u&"z"'],
  ],
  ["'it''s' 'a\\' x", ["string:'it''s'", "string:'a\\'", 'word:x']],
  ['$1 $23::int', ['param:$1', 'param:$23', 'punct::', 'punct::', 'word:int']],
  ['$$x$$ $tag$ $$ $tag$ $tag_2$y$tag_2$', ['string:$$x$$', 'string:$tag$ $$ $tag$', 'string:$tag_2$y$tag_2$']],
  ['$ $a a$b', ['punct:$', 'punct:$', 'word:a', 'word:a$b']],
  [
    '1 1.5 .5 1e10 1.5e-3 1E+2 0x1F 1_000 2-1',
    [
      'number:1',
      'number:1.5',
      'number:.5',
      'number:1e10',
      'number:1.5e-3',
      'number:1E+2',
      'number:0x1F',
      'number:1_000',
      'number:2',
      'punct:-',
      'number:1',
    ],
  ],
  ['Énorme_1 über', ['word:Énorme_1', 'word:über']],
  ['a/**/b--c\nd', ['word:a', 'word:b', 'word:d']],
  ['x+-/y', ['word:x', 'punct:+', 'punct:-', 'punct:/', 'word:y']],
]
for (const [sql, want] of lexed) t.same(tokens(sql), want, JSON.stringify(sql))

t.test('comments: bodies in text order, nested comments left out of the body', async (t) => {
  const lexed = lexSql('/* one /* two /* three */ */ one again */ SELECT 1 -- four\n/**/')
  t.same(lexed.comments, [' one   one again ', ' four', ''])
  t.equal(lexed.complete, true)
})

t.test('an unterminated literal or comment runs to the end and marks the text incomplete', async (t) => {
  for (const sql of [
    "SELECT 'abc",
    'SELECT "abc',
    "SELECT E'abc\\'",
    'SELECT $$abc',
    'SELECT $q$abc$$',
    'SELECT /* abc',
    'SELECT /* a /* b */',
  ]) {
    t.equal(lexSql(sql).complete, false, sql)
  }
  t.same(lexSql('SELECT /* a /* b */').comments, [' a  '])
  t.same(tokens("SELECT 'abc"), ['word:SELECT', "string:'abc"])
})
