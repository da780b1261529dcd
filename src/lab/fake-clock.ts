// Clock skew for the lab's Greys (`grey lab up --fake-clocks`, `grey lab skew grey:REGION --by SECONDS`), the jepsen
// clock-skew fault: each Grey runs under libfaketime (Debian's libfaketime), whose offset it reads from a file of its
// own at most once a second, so the lab steps one Grey's wall clock while it runs, as an NTP step or a resumed VM
// would. Only the wall clock moves (FAKETIME_DONT_FAKE_MONOTONIC): timers and Grey's leases run on the monotonic one.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/** The multi-threaded build (Node has threads); Debian puts it under the architecture's library directory. */
export function libfaketimePath(libRoot = '/usr/lib'): string | null {
  const dirs = existsSync(libRoot) ? readdirSync(libRoot) : []
  for (const dir of ['', ...dirs]) {
    const path = join(libRoot, dir, 'faketime', 'libfaketimeMT.so.1')
    if (existsSync(path)) return path
  }
  return null
}

/** The environment that runs a process under libfaketime with its offset read from `offsetFile`. */
export function fakeClockEnv(library: string, offsetFile: string): Record<string, string> {
  return {
    LD_PRELOAD: library,
    FAKETIME_TIMESTAMP_FILE: offsetFile,
    FAKETIME_CACHE_DURATION: '1',
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  }
}

/**
 * libfaketime's relative offset for `seconds` ahead (negative: behind): "+1.5", "-3", "+0". Plain seconds, because
 * its suffixes are not ours ("500ms" would be 500 minutes); refuses what is not a finite number within a day.
 */
export function faketimeOffset(seconds: number): string {
  if (!Number.isFinite(seconds) || Math.abs(seconds) > 86_400) {
    throw new Error(`a clock offset is a number of seconds within a day, like 2.5 or -3; found ${String(seconds)}`)
  }
  return `${seconds < 0 ? '-' : '+'}${Math.abs(seconds)}`
}
