// The lab's clock-skew plumbing (src/lab/fake-clock.ts): libfaketime's offset text, its environment, and where Debian
// puts the library. The skew itself is exercised on real Greys by the jepsen clock-skew fault.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fakeClockEnv, faketimeOffset, libfaketimePath } from '../../src/lab/fake-clock.js'

t.test('offsets are signed plain seconds; anything else is refused with a sentence', async (t) => {
  t.equal(faketimeOffset(0), '+0')
  t.equal(faketimeOffset(1.5), '+1.5')
  t.equal(faketimeOffset(-3), '-3')
  t.throws(() => faketimeOffset(Number.NaN), /a number of seconds within a day, like 2.5 or -3; found NaN/)
  t.throws(() => faketimeOffset(90_000), /within a day/)
})

t.test('the library is found under an architecture directory, or not at all', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'grey-faketime-'))
  t.equal(libfaketimePath(root), null)
  t.equal(libfaketimePath(join(root, 'absent')), null)
  mkdirSync(join(root, 'aarch64-linux-gnu', 'faketime'), { recursive: true })
  writeFileSync(join(root, 'aarch64-linux-gnu', 'faketime', 'libfaketimeMT.so.1'), '')
  t.equal(libfaketimePath(root), join(root, 'aarch64-linux-gnu', 'faketime', 'libfaketimeMT.so.1'))
})

const library = libfaketimePath()
t.test(
  'a process under that environment sees its wall clock moved',
  { skip: library === null && 'libfaketime is not installed' },
  async (t) => {
    const file = join(mkdtempSync(join(tmpdir(), 'grey-faketime-')), 'offset')
    writeFileSync(file, `${faketimeOffset(-30)}\n`)
    const probe = 'console.log(JSON.stringify({ wall: Date.now() }))'
    const before = Date.now()
    const r = spawnSync(process.execPath, ['-e', probe], { env: { ...process.env, ...fakeClockEnv(library!, file) }, encoding: 'utf8' })
    const after = Date.now()
    const seen = JSON.parse(r.stdout) as { wall: number }
    t.ok(seen.wall <= after - 29_000 && seen.wall >= before - 31_000, `wall clock 30 s behind (${seen.wall - before} ms)`)
  },
)
