import t from 'tap'
import fc from 'fast-check'
import { exceedsOffsetBudget } from '../../src/clock/offset-budget.js'

t.test('exceedsOffsetBudget: more than half of the peers beyond 80 % of max_offset', async (t) => {
  const cases: Array<[string, number[], number, boolean]> = [
    ['no peers measured', [], 500, false],
    ['one peer just over 400 ms', [401], 500, true],
    ['exactly 80 % is within budget', [400], 500, false],
    ['sign does not matter', [-401], 500, true],
    ['exactly half over is not most', [401, 0], 500, false],
    ['two of three over', [401, -450, 10], 500, true],
    ['one of three over', [401, 399, -399], 500, false],
    ['three of five over', [0, 900, -401, 401, 12], 500, true],
    ['everyone far off', [10_000, -10_000, 10_000], 500, true],
    ['zero budget: any offset counts', [1, -1, 0], 0, true],
    ['zero budget: zero offsets are fine', [0, 0, 1], 0, false],
    ['non-round budget (2.4 ms): 2 ms is within', [2, -2, 2], 3, false],
    ['non-round budget (2.4 ms): 3 ms is over', [3, -3, 0], 3, true],
  ]
  for (const [name, offsetsMs, maxOffsetMs, expected] of cases) {
    t.equal(exceedsOffsetBudget(offsetsMs, maxOffsetMs), expected, name)
  }
})

t.test('exceedsOffsetBudget agrees with counting in exact integer arithmetic', async (t) => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: -1000, max: 1000 }), { maxLength: 9 }),
      fc.integer({ min: 0, max: 1000 }),
      (offsetsMs, maxOffsetMs) => {
        // |o| > 0.8 m  <=>  10 |o| > 8 m, with BigInt so nothing rounds.
        const over = offsetsMs.filter((o) => 10n * BigInt(Math.abs(o)) > 8n * BigInt(maxOffsetMs)).length
        return exceedsOffsetBudget(offsetsMs, maxOffsetMs) === over > offsetsMs.length / 2
      },
    ),
  )
  t.pass('property held')
})
