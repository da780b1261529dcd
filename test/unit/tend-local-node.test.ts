import t from 'tap'
import { decideLocalNode, parseConninfo, repointConninfo, type LocalNodeFacts } from '../../src/failover/tend-local-node.js'
import { sqlLiteral } from '../../src/routing/sql-literal.js'

const facts = (over: Partial<LocalNodeFacts>): LocalNodeFacts => ({
  localRegion: 'ap-south',
  primaryRegion: 'eu-west',
  epoch: 1,
  inRecovery: true,
  repointedEpoch: -1,
  fencedEpoch: -1,
  ...over,
})

t.test('what a Grey does to its own region’s node', async (t) => {
  t.match(decideLocalNode(facts({ localRegion: 'eu-west' })), { kind: 'none', reason: 'the local node is the primary' })
  t.match(decideLocalNode(facts({})), { kind: 'repoint', reason: 'the primary is now eu-west (epoch 1)' })
  t.match(decideLocalNode(facts({ repointedEpoch: 1 })), { kind: 'none' }, 'once per epoch')
  t.match(
    decideLocalNode(facts({ repointedEpoch: 1, epoch: 2, primaryRegion: 'us-east' })),
    { kind: 'repoint' },
    'again after the next failover',
  )
  t.match(decideLocalNode(facts({ epoch: 0, primaryRegion: 'us-east' })), { kind: 'none', reason: /no failover yet/ })
  t.match(decideLocalNode(facts({ localRegion: 'us-east', inRecovery: false })), {
    kind: 'fence',
    reason: 'the local node is out of recovery, but the log names eu-west the primary (epoch 1)',
  })
  t.match(decideLocalNode(facts({ localRegion: 'us-east', inRecovery: false, fencedEpoch: 1 })), { kind: 'none', reason: /fenced already/ })
  t.match(
    decideLocalNode(facts({ localRegion: 'us-east', inRecovery: false, epoch: 0, primaryRegion: 'eu-west' })),
    { kind: 'fence' },
    'a second primary is fenced at any epoch',
  )
})

t.test('a standby’s primary_conninfo pointed elsewhere, the rest kept', async (t) => {
  t.equal(
    repointConninfo('host=127.0.0.1 port=16560 user=replicator password=s3cret application_name=ap-south', '127.0.0.1', 16570),
    'user=replicator password=s3cret application_name=ap-south host=127.0.0.1 port=16570',
  )
  t.equal(
    repointConninfo("user='rep user' password='it\\'s' hostaddr=10.0.0.1 sslmode=require", 'db.eu', 5432),
    "user='rep user' password='it\\'s' sslmode=require host=db.eu port=5432",
    'quoted values stay quoted; hostaddr goes with host',
  )
  t.equal(repointConninfo('', 'h', 1), 'host=h port=1', 'an empty string gains host and port')
  t.same(parseConninfo("a = 1  b='x y' c=\\' d=''"), [
    ['a', '1'],
    ['b', 'x y'],
    ['c', "'"],
    ['d', ''],
  ])
  t.throws(() => parseConninfo("user='open"), /value of user has no closing quote/)
  t.throws(() => parseConninfo('host=h junk'), /has "junk" without "=value"/)
  t.equal(sqlLiteral("it's"), "'it''s'")
})
