import t from 'tap'
import fc from 'fast-check'
import { cassandraWriteStamper, nextWallMicros } from '../../src/clock/cassandra-write-stamper.js'
import { HybridLogicalClock } from '../../src/clock/hlc.js'

const T0 = 1_700_000_000_000

t.test('hlc-lww: a stamp made after merging a clock 300 ms ahead orders after that clock’s stamps', async (t) => {
  let now = T0
  const ahead = new HybridLogicalClock({ physicalClock: () => now + 300 })
  const behind = new HybridLogicalClock({ physicalClock: () => now })
  const stampAhead = cassandraWriteStamper('hlc-lww', ahead)
  const stampBehind = cassandraWriteStamper('hlc-lww', behind)
  const first = stampAhead()
  t.equal(first, BigInt(T0 + 300) * 1000n, 'wall ms * 1000 + logical 0')
  now += 100
  behind.update(ahead.now()) // a Raft heartbeat from the clock that runs ahead
  const second = stampBehind()
  t.ok(second > first, `${second} > ${first}`)
})

t.test('wall-clock-lww: the physical clock in micros, whatever the HLC heard', async (t) => {
  let now = T0
  const ahead = new HybridLogicalClock({ physicalClock: () => now + 300 })
  const behind = new HybridLogicalClock({ physicalClock: () => now })
  const first = cassandraWriteStamper('wall-clock-lww', ahead)()
  now += 100
  behind.update(ahead.now())
  const stampBehind = cassandraWriteStamper('wall-clock-lww', behind)
  const second = stampBehind()
  t.equal(second, BigInt(T0 + 100) * 1000n)
  t.ok(second < first, 'the later write gets the smaller stamp: last-write-wins keeps the earlier one')
  t.equal(stampBehind(), second + 1n, 'the clock has not moved: one microsecond more, never a repeat')
  now += 1
  t.equal(stampBehind(), BigInt(T0 + 101) * 1000n, 'the clock moved on: its micros again')
})

t.test('nextWallMicros is strictly increasing whatever the clock does', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 2 ** 40 }), { minLength: 1, maxLength: 50 }), (clockReadings) => {
      let last = 0n
      for (const ms of clockReadings) {
        const next = nextWallMicros(last, ms)
        if (next <= last || next < BigInt(ms) * 1000n) return false
        last = next
      }
      return true
    }),
  )
  t.pass('checked')
})
