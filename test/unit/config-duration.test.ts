import t from 'tap'
import { parseDurationMs } from '../../src/config/duration.js'

const valid: [input: string | number, ms: number][] = [
  ['500ms', 500],
  ['1.5s', 1_500],
  ['1.1s', 1_100], // exact, not 1100.0000000000002
  ['2m', 120_000],
  ['1h', 3_600_000],
  ['1m30s', 90_000],
  ['1h1m1s1ms', 3_661_001],
  ['0.001s', 1],
  ['0.5ms', 0.5],
  ['0s', 0],
  ['250', 250],
  ['2.5', 2.5],
  ['0', 0],
  [' 2s ', 2_000],
  [750, 750],
  [0, 0],
]

for (const [input, ms] of valid) {
  t.equal(parseDurationMs(input), ms, `${JSON.stringify(input)} is ${ms} ms`)
}

const invalid: (string | number)[] = [
  'fast',
  '',
  '   ',
  '-5ms',
  '5 ms',
  '5sec',
  '5d',
  '1.s',
  '.5s',
  's',
  'ms5',
  '1.5.5s',
  '5ms-',
  '1e3ms',
  -1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
]

for (const input of invalid) {
  t.throws(
    () => parseDurationMs(input),
    { name: 'RangeError', message: /^invalid duration / },
    `rejects ${JSON.stringify(input) ?? String(input)}`,
  )
}

t.throws(() => parseDurationMs('fast'), {
  message: 'invalid duration "fast": expected a number with a unit (ms, s, m, h), like "500ms" or "1.5s"',
})
t.throws(() => parseDurationMs(-1), { message: 'invalid duration -1: expected a non-negative number of milliseconds' })
