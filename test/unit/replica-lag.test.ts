import t from 'tap'
import fc from 'fast-check'
import { formatLsn, parseLsn } from '../../src/topology/lsn.js'
import { lagWhilePrimaryUnseen, LsnHistory, replicaLag } from '../../src/topology/replica-lag.js'

t.test('LSN text round-trips and differences are bytes', async (t) => {
  t.equal(parseLsn('16/B374D848'), 0x16b374d848n)
  t.equal(parseLsn('0/3000060')! - parseLsn('0/3000000')!, 0x60n)
  t.equal(formatLsn(0x16b374d848n), '16/B374D848')
  for (const bad of [null, undefined, '', 'x/y', '1/2/3', '123456789/0']) t.equal(parseLsn(bad), null, `${String(bad)} is not an LSN`)
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (lsn) => parseLsn(formatLsn(lsn)) === lsn))
})

t.test('equal positions mean zero lag, however long the primary has been idle', async (t) => {
  const h = new LsnHistory(60_000)
  h.record(100n, 0)
  h.record(100n, 500_000)
  t.same(replicaLag(h, 100n, 900_000), { bytes: 0n, seconds: 0, atLeast: false })
  t.same(replicaLag(h, 120n, 900_000), { bytes: 0n, seconds: 0, atLeast: false }, 'ahead of the last sample: caught up')
})

t.test('behind: bytes to the newest sample; seconds since the primary was last seen at or below the replica', async (t) => {
  const h = new LsnHistory(60_000)
  h.record(100n, 1000)
  h.record(100n, 2000) // still at 100 when seen at 2000
  h.record(300n, 3000)
  h.record(700n, 4000)
  t.same(replicaLag(h, 100n, 4500), { bytes: 600n, seconds: 2.5, atLeast: false })
  t.same(replicaLag(h, 500n, 4500), { bytes: 200n, seconds: 1.5, atLeast: false })
  t.same(replicaLag(h, 50n, 4500), { bytes: 650n, seconds: 2.5, atLeast: true }, 'older than the history: at least')
  t.equal(replicaLag(new LsnHistory(1000), 1n, 0), null, 'no sample yet')
})

t.test('the window keeps one sample older than itself; a lower position starts afresh', async (t) => {
  const h = new LsnHistory(1000)
  for (let i = 0; i <= 10; i++) h.record(BigInt(i * 10), i * 500)
  t.same(
    h.samples.map((s) => s.atMs),
    [3500, 4000, 4500, 5000],
  )
  t.same(replicaLag(h, 75n, 5000), { bytes: 25n, seconds: 1.5, atLeast: false })
  h.record(5n, 6000)
  t.same(h.samples, [{ lsn: 5n, atMs: 6000 }], 'a new timeline')
})

t.test('the lag bound is never below the truth', async (t) => {
  // The primary advances at random; the replica replays to a random earlier true position. Staleness as defined:
  // now minus the time the primary first passed the replica's position.
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 1, max: 300 })), { minLength: 2, maxLength: 60 }),
      fc.nat(),
      (steps, pick) => {
        const h = new LsnHistory(10_000)
        const truth: Array<{ lsn: bigint; atMs: number }> = []
        let lsn = 0n
        let now = 0
        for (const [advance, elapsed] of steps) {
          now += elapsed
          lsn += BigInt(advance)
          truth.push({ lsn, atMs: now })
          h.record(lsn, now)
        }
        const replica = truth[pick % truth.length]!.lsn
        const lag = replicaLag(h, replica, now)!
        const passed = truth.find((s) => s.lsn > replica)
        const staleness = passed ? (now - passed.atMs) / 1000 : 0
        return lag.seconds >= staleness - 1e-9 || lag.atLeast
      },
    ),
  )
  t.pass('held for every history')
})

t.test('with the primary out of sight, a current replica ages from the last sample', async (t) => {
  const h = new LsnHistory(60_000)
  h.record(1000n, 10_000)
  const current = replicaLag(h, 1000n, 25_000)!
  t.same(current, { bytes: 0n, seconds: 0, atLeast: false }, 'measured: zero')
  t.same(lagWhilePrimaryUnseen(current, h, 25_000), { bytes: 0n, seconds: 15, atLeast: false }, 'unseen for 15 s: 15 s stale at most')
  const behind = { bytes: 10n, seconds: 40, atLeast: true }
  t.same(lagWhilePrimaryUnseen(behind, h, 25_000), behind, 'a larger measured lag stands')
  t.same(lagWhilePrimaryUnseen(current, new LsnHistory(60_000), 25_000), current, 'no sample yet: unchanged')
})
