import t from 'tap'
import fc from 'fast-check'
import {
  CASSANDRA_LOGICAL_LIMIT,
  DEFAULT_MAX_OFFSET_MS,
  HLC_MAX_LOGICAL,
  HLC_MAX_WALL_MS,
  HLC_ZERO,
  HlcParseError,
  HlcRemoteAheadError,
  HybridLogicalClock,
  compareHlc,
  formatHlc,
  isValidHlc,
  maxHlc,
  nextCassandraHlc,
  nextHlc,
  packHlc,
  parseHlc,
  receiveHlc,
  unpackHlc,
  type HlcTimestamp,
} from '../../src/clock/hlc.js'
import { toCassandraMicros, toCassandraMicrosNumber, writeCassandraMicros } from '../../src/clock/cassandra-micros.js'

const T0 = 1_700_000_000_000 // 2023-11-14, a realistic wall clock

function hlc(wallMs: number, logical: number): HlcTimestamp {
  return { wallMs, logical }
}

/** A clock driven by a physical time the test sets; nothing reads the real time. */
function manualClock(startMs: number, options: { maxOffsetMs?: number; initial?: HlcTimestamp } = {}) {
  const physical = { ms: startMs }
  const clock = new HybridLogicalClock({ ...options, physicalClock: () => physical.ms })
  return { clock, physical }
}

function unwrap(result: HlcTimestamp | HlcRemoteAheadError): HlcTimestamp {
  if (result instanceof HlcRemoteAheadError) throw result
  return result
}

const arbHlc = fc.record({
  wallMs: fc.integer({ min: 0, max: HLC_MAX_WALL_MS }),
  logical: fc.integer({ min: 0, max: HLC_MAX_LOGICAL }),
})

// Small ranges around T0 make equal walls, backward jumps and counter carries common.
type Step =
  | { kind: 'now'; physicalMs: number }
  | { kind: 'cassandra'; physicalMs: number }
  | { kind: 'update'; physicalMs: number; remote: HlcTimestamp }

const arbPhysical = fc.integer({ min: T0 - 20, max: T0 + 20 })
const arbStep: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('now' as const), physicalMs: arbPhysical }),
  fc.record({ kind: fc.constant('cassandra' as const), physicalMs: arbPhysical }),
  fc.record({
    kind: fc.constant('update' as const),
    physicalMs: arbPhysical,
    remote: fc.record({
      wallMs: fc.integer({ min: T0 - 700, max: T0 + 700 }),
      logical: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 990, max: HLC_MAX_LOGICAL })),
    }),
  }),
)

t.test('nextHlc: the send / local event rule', async (t) => {
  const cases: Array<[string, HlcTimestamp, number, HlcTimestamp]> = [
    ['physical ahead resets logical', hlc(T0, 7), T0 + 1, hlc(T0 + 1, 0)],
    ['physical equal bumps logical', hlc(T0, 7), T0, hlc(T0, 8)],
    ['physical behind keeps wall, bumps logical', hlc(T0, 7), T0 - 300, hlc(T0, 8)],
    ['from zero', HLC_ZERO, T0, hlc(T0, 0)],
    ['counter full borrows the next ms', hlc(T0, HLC_MAX_LOGICAL), T0, hlc(T0 + 1, 0)],
  ]
  for (const [name, last, physicalMs, expected] of cases) {
    t.same(nextHlc(last, physicalMs), expected, name)
  }
})

t.test('now() is strictly monotonic under arbitrary physical time, backward jumps included', async (t) => {
  let checked = 0
  fc.assert(
    fc.property(fc.array(fc.integer({ min: T0 - 1000, max: T0 + 1000 }), { maxLength: 300, size: 'max' }), (times) => {
      const { clock, physical } = manualClock(T0)
      let previous = clock.last
      for (const ms of times) {
        physical.ms = ms
        const stamp = clock.now()
        if (compareHlc(stamp, previous) <= 0) return false
        if (stamp.wallMs < ms || !isValidHlc(stamp) || clock.last !== stamp) return false
        previous = stamp
        checked++
      }
      return true
    }),
  )
  t.ok(checked > 5000, `checked ${checked} stamps`)
})

t.test('every stamp of a clock is strictly increasing across now, nowForCassandra and update', async (t) => {
  let checked = 0
  fc.assert(
    fc.property(fc.array(arbStep, { minLength: 1, maxLength: 200, size: 'max' }), (steps) => {
      const { clock, physical } = manualClock(T0)
      let previous = clock.last
      for (const step of steps) {
        physical.ms = step.physicalMs
        const before = clock.rejectedCount
        let stamp: HlcTimestamp
        if (step.kind === 'now') {
          stamp = clock.now()
        } else if (step.kind === 'cassandra') {
          stamp = clock.nowForCassandra()
          if (stamp.logical >= CASSANDRA_LOGICAL_LIMIT) return false
        } else {
          const result = clock.update(step.remote)
          const tooFarAhead = step.remote.wallMs - step.physicalMs > DEFAULT_MAX_OFFSET_MS
          if (result instanceof HlcRemoteAheadError) {
            // Rejected exactly when too far ahead; nothing but the counter moves.
            if (!tooFarAhead || clock.rejectedCount !== before + 1 || clock.last !== previous) return false
            continue
          }
          if (tooFarAhead || clock.rejectedCount !== before) return false
          if (compareHlc(result, step.remote) <= 0) return false
          stamp = result
        }
        if (compareHlc(stamp, previous) <= 0 || stamp.wallMs < step.physicalMs) return false
        previous = stamp
        checked++
      }
      return true
    }),
  )
  t.ok(checked > 1000, `checked ${checked} stamps`)
})

t.test('receiveHlc: the cases of the paper', async (t) => {
  const cases: Array<[string, HlcTimestamp, HlcTimestamp, number, HlcTimestamp]> = [
    // name, last, remote, physical, expected
    ["l = l_m = l': max(c, c_m) + 1 (local larger)", hlc(T0, 9), hlc(T0, 4), T0 - 5, hlc(T0, 10)],
    ["l = l_m = l': max(c, c_m) + 1 (remote larger)", hlc(T0, 4), hlc(T0, 9), T0 - 5, hlc(T0, 10)],
    ["l' = l only: c + 1", hlc(T0, 4), hlc(T0 - 3, 900), T0 - 5, hlc(T0, 5)],
    ["l' = l_m only: c_m + 1", hlc(T0 - 3, 900), hlc(T0, 4), T0 - 5, hlc(T0, 5)],
    ['physical wins: 0', hlc(T0 - 3, 900), hlc(T0 - 2, 70), T0, hlc(T0, 0)],
    ['physical ties with local: c + 1', hlc(T0, 4), hlc(T0 - 2, 70), T0, hlc(T0, 5)],
    ['physical ties with remote: c_m + 1', hlc(T0 - 9, 4), hlc(T0, 70), T0, hlc(T0, 71)],
    ['all three equal', hlc(T0, 4), hlc(T0, 70), T0, hlc(T0, 71)],
    ['remote counter full borrows the next ms', hlc(T0 - 1, 0), hlc(T0, HLC_MAX_LOGICAL), T0, hlc(T0 + 1, 0)],
    ['local counter full borrows the next ms', hlc(T0, HLC_MAX_LOGICAL), hlc(T0, 3), T0, hlc(T0 + 1, 0)],
  ]
  for (const [name, last, remote, physicalMs, expected] of cases) {
    t.same(receiveHlc(last, remote, physicalMs, DEFAULT_MAX_OFFSET_MS), expected, name)
  }
})

t.test('update(m) leaves the clock after m and after its previous value', async (t) => {
  fc.assert(
    fc.property(
      fc.record({ wallMs: fc.integer({ min: T0 - 50, max: T0 + 50 }), logical: fc.nat(HLC_MAX_LOGICAL) }),
      fc.record({ wallMs: fc.integer({ min: T0 - 50, max: T0 + 50 }), logical: fc.nat(HLC_MAX_LOGICAL) }),
      fc.integer({ min: T0 - 50, max: T0 + 50 }),
      (initial, remote, physicalMs) => {
        const { clock } = manualClock(physicalMs, { initial })
        const after = unwrap(clock.update(remote))
        const expectedWall = Math.max(initial.wallMs, remote.wallMs, physicalMs)
        return (
          compareHlc(after, remote) > 0 &&
          compareHlc(after, initial) > 0 &&
          clock.last === after &&
          // The wall part only moves past max(l, l_m, pt) when a full counter borrows a ms.
          (after.wallMs === expectedWall || (after.wallMs === expectedWall + 1 && after.logical === 0))
        )
      },
    ),
  )
  t.pass('property held')
})

t.test('remote stamps more than maxOffsetMs ahead are rejected and counted', async (t) => {
  const rejected: HlcRemoteAheadError[] = []
  const physical = { ms: T0 }
  const clock = new HybridLogicalClock({
    physicalClock: () => physical.ms,
    initial: hlc(T0 - 10, 3),
    onReject: (error) => rejected.push(error),
  })
  t.equal(clock.maxOffsetMs, DEFAULT_MAX_OFFSET_MS)

  const before = clock.last
  const tooFar = hlc(T0 + DEFAULT_MAX_OFFSET_MS + 1, 0)
  const result = clock.update(tooFar)
  t.type(result, HlcRemoteAheadError)
  t.type(result, Error)
  if (!(result instanceof HlcRemoteAheadError)) throw new Error('expected a rejection')
  t.equal(result.name, 'HlcRemoteAheadError')
  t.equal(result.aheadMs, DEFAULT_MAX_OFFSET_MS + 1)
  t.equal(result.physicalMs, T0)
  t.equal(result.maxOffsetMs, DEFAULT_MAX_OFFSET_MS)
  t.same(result.remote, tooFar)
  t.match(result.message, /501 ms ahead .*max_offset 500 ms/)
  t.equal(clock.rejectedCount, 1)
  t.equal(clock.last, before, 'state unchanged')
  t.same(rejected, [result], 'hook saw the same error value')

  t.type(clock.update(hlc(T0 + 10_000, 5)), HlcRemoteAheadError)
  t.equal(clock.rejectedCount, 2)
  t.equal(rejected.length, 2)
  t.equal(clock.last, before)
  t.same(clock.now(), hlc(T0, 0), 'the rejected stamps left no trace')

  const atLimit = hlc(T0 + DEFAULT_MAX_OFFSET_MS, 42)
  t.same(clock.update(atLimit), hlc(T0 + DEFAULT_MAX_OFFSET_MS, 43), 'exactly max_offset ahead is accepted')
  t.equal(clock.rejectedCount, 2)
})

t.test('rejection honours a configured maxOffsetMs, measured against physical time only', async (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 5000 }),
      fc.integer({ min: -2000, max: 2000 }),
      fc.nat(HLC_MAX_LOGICAL),
      (maxOffsetMs, aheadMs, logical) => {
        // The local HLC runs ahead of physical time; rejection must not use it.
        const { clock } = manualClock(T0, { maxOffsetMs, initial: hlc(T0 + 5000, 0) })
        const result = clock.update(hlc(T0 + aheadMs, logical))
        const rejected = result instanceof HlcRemoteAheadError
        return rejected === aheadMs > maxOffsetMs && clock.rejectedCount === (rejected ? 1 : 0)
      },
    ),
  )
  const { clock } = manualClock(T0, { maxOffsetMs: 0 })
  t.same(clock.update(hlc(T0, 0)), hlc(T0, 1), 'maxOffsetMs 0 accepts a remote equal to physical time')
  t.type(clock.update(hlc(T0 + 1, 0)), HlcRemoteAheadError)
})

t.test('logical counter overflow at 0xFFFF advances the wall part', async (t) => {
  const { clock, physical } = manualClock(T0, { initial: hlc(T0, HLC_MAX_LOGICAL - 1) })
  t.same(clock.now(), hlc(T0, HLC_MAX_LOGICAL))
  t.same(clock.now(), hlc(T0 + 1, 0), 'carry into the next millisecond')
  t.same(clock.now(), hlc(T0 + 1, 1), 'physical time is still behind the clock')
  physical.ms = T0 + 2
  t.same(clock.now(), hlc(T0 + 2, 0), 'physical time catches up')

  // A frozen clock over 200,000 stamps: the counter never passes 0xFFFF.
  const frozen = manualClock(T0).clock
  let maxLogical = 0
  let last = frozen.last
  for (let i = 0; i < 200_000; i++) {
    last = frozen.now()
    if (last.logical > maxLogical) maxLogical = last.logical
  }
  t.equal(maxLogical, HLC_MAX_LOGICAL)
  // Stamps 1..199,999 after (T0, 0): three full counters of 65,536, then the remainder.
  t.same(last, hlc(T0 + 3, 199_999 - 3 * 65_536))
})

t.test('the 48-bit wall part cannot be exceeded', async (t) => {
  const { clock } = manualClock(HLC_MAX_WALL_MS, { initial: hlc(HLC_MAX_WALL_MS, HLC_MAX_LOGICAL - 1) })
  t.same(clock.now(), hlc(HLC_MAX_WALL_MS, HLC_MAX_LOGICAL))
  t.throws(() => clock.now(), RangeError)
  t.same(clock.last, hlc(HLC_MAX_WALL_MS, HLC_MAX_LOGICAL), 'state unchanged after the throw')
})

t.test('the physical clock and constructor arguments are validated', async (t) => {
  for (const bad of [Number.NaN, -1, 1.5, HLC_MAX_WALL_MS + 1, Number.POSITIVE_INFINITY]) {
    const { clock, physical } = manualClock(T0)
    clock.now()
    const before = clock.last
    physical.ms = bad
    t.throws(() => clock.now(), RangeError, `now() with physical ${bad}`)
    t.throws(() => clock.nowForCassandra(), RangeError, `nowForCassandra() with physical ${bad}`)
    t.throws(() => clock.update(hlc(T0, 0)), RangeError, `update() with physical ${bad}`)
    t.equal(clock.last, before)
  }
  const { clock } = manualClock(T0)
  for (const bad of [
    hlc(-1, 0),
    hlc(T0, -1),
    hlc(T0, HLC_MAX_LOGICAL + 1),
    hlc(HLC_MAX_WALL_MS + 1, 0),
    hlc(T0 + 0.5, 0),
    hlc(T0, 0.5),
    hlc(Number.NaN, 0),
  ]) {
    t.throws(() => clock.update(bad), RangeError, `remote ${bad.wallMs}/${bad.logical}`)
    t.throws(() => new HybridLogicalClock({ initial: bad }), RangeError, `initial ${bad.wallMs}/${bad.logical}`)
  }
  t.equal(clock.rejectedCount, 0, 'malformed remotes are errors, not offset rejections')
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    t.throws(() => new HybridLogicalClock({ maxOffsetMs: bad }), RangeError, `maxOffsetMs ${bad}`)
  }
  t.same(new HybridLogicalClock({ initial: hlc(T0, 5) }).last, hlc(T0, 5), 'initial is respected')
})

t.test('the default physical clock is Date.now', async (t) => {
  const clock = new HybridLogicalClock()
  t.same(clock.last, HLC_ZERO)
  const before = Date.now()
  const stamp = clock.now()
  const after = Date.now()
  t.ok(stamp.wallMs >= before && stamp.wallMs <= after, `${stamp.wallMs} in [${before}, ${after}]`)
  t.equal(stamp.logical, 0)
})

t.test('compareHlc and maxHlc', async (t) => {
  t.ok(compareHlc(hlc(1, 9), hlc(2, 0)) < 0, 'wall dominates')
  t.ok(compareHlc(hlc(2, 1), hlc(2, 0)) > 0, 'logical breaks ties')
  t.equal(compareHlc(hlc(2, 1), hlc(2, 1)), 0)
  t.same(maxHlc(hlc(2, 1), hlc(2, 3)), hlc(2, 3))
  t.same(maxHlc(hlc(3, 0), hlc(2, 3)), hlc(3, 0))
  fc.assert(
    fc.property(arbHlc, arbHlc, (a, b) => {
      const m = maxHlc(a, b)
      return (m === a || m === b) && compareHlc(m, a) >= 0 && compareHlc(m, b) >= 0
    }),
  )
})

t.test('Cassandra micros: a million stamps in one burst with a frozen physical clock', async (t) => {
  const { clock } = manualClock(T0)
  const count = 1_000_000
  let previousMicros = -1
  let outOfOrder = 0
  let maxLogical = 0
  let last = clock.last
  for (let i = 0; i < count; i++) {
    last = clock.nowForCassandra()
    const micros = toCassandraMicrosNumber(last)
    if (micros <= previousMicros) outOfOrder++
    if (last.logical > maxLogical) maxLogical = last.logical
    previousMicros = micros
  }
  t.equal(outOfOrder, 0, 'strictly increasing, hence unique')
  t.equal(maxLogical, CASSANDRA_LOGICAL_LIMIT - 1, 'logical reaches 999 and never 1000')
  // One stamp per microsecond starting at T0 * 1000, carrying into the next ms every 1000.
  t.equal(previousMicros, T0 * 1000 + count - 1)
  t.same(last, hlc(T0 + 999, 999))
  t.equal(toCassandraMicros(last), BigInt(T0 * 1000 + count - 1))
})

t.test('Cassandra micros: a burst interleaved with remote updates stays unique and increasing', async (t) => {
  const { clock } = manualClock(T0)
  const remotes = [hlc(T0, HLC_MAX_LOGICAL), hlc(T0 + 3, 998), hlc(T0 + 400, 999), hlc(T0 + 2, 50_000)]
  let previousMicros = -1n
  let outOfOrder = 0
  let badLogical = 0
  let rejected = 0
  for (let i = 0; i < 200_000; i++) {
    if (i % 97 === 0) {
      const remote = remotes[(i / 97) % remotes.length] ?? HLC_ZERO
      if (clock.update(remote) instanceof HlcRemoteAheadError) rejected++
      continue
    }
    const stamp = clock.nowForCassandra()
    if (stamp.logical >= CASSANDRA_LOGICAL_LIMIT) badLogical++
    const micros = toCassandraMicros(stamp)
    if (micros <= previousMicros) outOfOrder++
    previousMicros = micros
  }
  t.equal(outOfOrder, 0)
  t.equal(badLogical, 0)
  t.equal(rejected, 0)
  t.equal(clock.rejectedCount, 0)
})

t.test('Cassandra micros: increasing for arbitrary mixes of steps (property)', async (t) => {
  fc.assert(
    fc.property(fc.array(arbStep, { maxLength: 300, size: 'max' }), (steps) => {
      const { clock, physical } = manualClock(T0)
      let previousMicros = -1n
      for (const step of steps) {
        physical.ms = step.physicalMs
        if (step.kind === 'update') {
          clock.update(step.remote)
          continue
        }
        if (step.kind === 'now') {
          clock.now()
          continue
        }
        const micros = toCassandraMicros(clock.nowForCassandra())
        if (micros <= previousMicros) return false
        previousMicros = micros
      }
      return true
    }),
  )
  t.pass('property held')
})

t.test('Cassandra micros: mapping, order and comparability with driver timestamps', async (t) => {
  t.equal(toCassandraMicros(hlc(T0, 0)), 1_700_000_000_000_000n)
  t.equal(toCassandraMicros(hlc(T0, 999)), 1_700_000_000_000_999n)
  t.equal(toCassandraMicrosNumber(hlc(T0, 123)), 1_700_000_000_000_123)
  t.equal(toCassandraMicros(hlc(HLC_MAX_WALL_MS, 999)), BigInt(HLC_MAX_WALL_MS) * 1000n + 999n, 'exact at 2^48')
  t.throws(() => toCassandraMicrosNumber(hlc(HLC_MAX_WALL_MS, 0)), RangeError, 'unsafe as a number')
  for (const bad of [hlc(T0, CASSANDRA_LOGICAL_LIMIT), hlc(T0, HLC_MAX_LOGICAL), hlc(-1, 0), hlc(T0, 0.5)]) {
    t.throws(() => toCassandraMicros(bad), RangeError, `${bad.wallMs}/${bad.logical}`)
    t.throws(() => toCassandraMicrosNumber(bad), RangeError, `${bad.wallMs}/${bad.logical} as number`)
  }

  const arbCassandra = fc.record({
    wallMs: fc.integer({ min: 0, max: HLC_MAX_WALL_MS }),
    logical: fc.integer({ min: 0, max: CASSANDRA_LOGICAL_LIMIT - 1 }),
  })
  fc.assert(
    fc.property(arbCassandra, arbCassandra, (a, b) => {
      const byHlc = Math.sign(compareHlc(a, b))
      const ma = toCassandraMicros(a)
      const mb = toCassandraMicros(b)
      return byHlc === (ma < mb ? -1 : ma > mb ? 1 : 0)
    }),
  )

  // A clock whose physical time advances sees the same micros a driver would send (Date.now() * 1000).
  const { clock, physical } = manualClock(T0)
  for (let ms = T0; ms < T0 + 5; ms++) {
    physical.ms = ms
    t.equal(toCassandraMicrosNumber(clock.nowForCassandra()), ms * 1000)
  }
  // nextCassandraHlc from a state with a large counter (set by update) still yields logical < 1000.
  t.same(nextCassandraHlc(hlc(T0, 5000), T0), hlc(T0 + 1, 0))
  t.same(nextCassandraHlc(hlc(T0, 998), T0), hlc(T0, 999))
  t.same(nextCassandraHlc(hlc(T0, 999), T0 - 1), hlc(T0 + 1, 0))
})

t.test('writeCassandraMicros: signed 64-bit big-endian long', async (t) => {
  t.equal(writeCassandraMicros(0x0102030405060708n).toString('hex'), '0102030405060708')
  t.equal(writeCassandraMicros(1_700_000_000_000_123n).toString('hex'), '00060a24181e407b')
  t.equal(writeCassandraMicros(1_700_000_000_000_123).toString('hex'), '00060a24181e407b', 'safe number input')
  t.equal(writeCassandraMicros(-1n).toString('hex'), 'ffffffffffffffff', "two's complement")

  const frame = Buffer.alloc(12, 0xee)
  const returned = writeCassandraMicros(toCassandraMicros(hlc(T0, 1)), frame, 2)
  t.equal(returned, frame, "writes into the caller's buffer")
  t.equal(frame.toString('hex'), 'eeee00060a24181e4001eeee')

  t.throws(() => writeCassandraMicros(1n << 63n), RangeError, 'above int64')
  t.throws(() => writeCassandraMicros(0n, Buffer.alloc(8), 1), RangeError, 'no room')
  t.throws(() => writeCassandraMicros(1.5), RangeError, 'fractional micros')

  fc.assert(
    fc.property(fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }), (micros) => {
      return writeCassandraMicros(micros).readBigInt64BE(0) === micros
    }),
  )
})

t.test('packHlc / unpackHlc', async (t) => {
  t.equal(packHlc(hlc(0x0123456789ab, 0xcdef)), 0x0123456789abcdefn)
  t.equal(packHlc(hlc(HLC_MAX_WALL_MS, HLC_MAX_LOGICAL)), (1n << 64n) - 1n)
  t.same(unpackHlc(0n), HLC_ZERO)
  t.same(unpackHlc((1n << 64n) - 1n), hlc(HLC_MAX_WALL_MS, HLC_MAX_LOGICAL))
  t.throws(() => unpackHlc(-1n), RangeError)
  t.throws(() => unpackHlc(1n << 64n), RangeError)
  for (const bad of [hlc(HLC_MAX_WALL_MS + 1, 0), hlc(0, HLC_MAX_LOGICAL + 1), hlc(-1, 0), hlc(1.5, 0)]) {
    t.throws(() => packHlc(bad), RangeError, `${bad.wallMs}/${bad.logical}`)
  }

  fc.assert(fc.property(arbHlc, (ts) => compareHlc(unpackHlc(packHlc(ts)), ts) === 0))
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (packed) => packHlc(unpackHlc(packed)) === packed))
  fc.assert(
    fc.property(arbHlc, arbHlc, (a, b) => {
      const pa = packHlc(a)
      const pb = packHlc(b)
      return Math.sign(compareHlc(a, b)) === (pa < pb ? -1 : pa > pb ? 1 : 0)
    }),
  )
  t.pass('properties held')
})

t.test('formatHlc / parseHlc', async (t) => {
  t.equal(formatHlc(hlc(0x0123456789ab, 0xcdef)), '0123456789abcdef')
  t.equal(formatHlc(HLC_ZERO), '0000000000000000')
  t.equal(formatHlc(hlc(T0, 1)), '018bcfe568000001')
  t.same(parseHlc('018bcfe568000001'), hlc(T0, 1))
  t.same(parseHlc('ffffffffffffffff'), hlc(HLC_MAX_WALL_MS, HLC_MAX_LOGICAL))

  fc.assert(
    fc.property(arbHlc, (ts) => {
      const text = formatHlc(ts)
      const parsed = parseHlc(text)
      return text.length === 16 && !(parsed instanceof HlcParseError) && compareHlc(parsed, ts) === 0
    }),
  )
  fc.assert(
    fc.property(arbHlc, arbHlc, (a, b) => {
      const fa = formatHlc(a)
      const fb = formatHlc(b)
      return Math.sign(compareHlc(a, b)) === (fa < fb ? -1 : fa > fb ? 1 : 0)
    }),
  )

  const bad = [
    '',
    '018bcfe56800000', // 15 digits
    '018bcfe5680000011', // 17 digits
    '018BCFE568000001', // upper case is not canonical
    '0x8bcfe568000001',
    '018bcfe56800000g',
    ' 018bcfe568000001',
    '018bcfe568000001 ',
    '018bcfe568000001\n',
    '-18bcfe568000001',
    '018bcfe5 8000001',
    '０18bcfe568000001', // full-width digit
    '018bcfe568000001'.repeat(4),
  ]
  for (const text of bad) {
    const result = parseHlc(text)
    t.type(result, HlcParseError, JSON.stringify(text))
    if (result instanceof HlcParseError) {
      t.equal(result.text, text)
      t.equal(result.name, 'HlcParseError')
      t.match(result.message, /expected 16 lowercase hex digits/)
      t.ok(result.message.length < 200, 'message does not echo huge input')
    }
  }
  fc.assert(
    fc.property(
      fc.string({ maxLength: 24 }).filter((s) => !/^[0-9a-f]{16}$/.test(s)),
      (text) => parseHlc(text) instanceof HlcParseError,
    ),
  )
})
