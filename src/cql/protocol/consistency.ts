/** [consistency] levels, a [short] on the wire (v4 spec §3). */
export const Consistency = {
  ANY: 0x0000,
  ONE: 0x0001,
  TWO: 0x0002,
  THREE: 0x0003,
  QUORUM: 0x0004,
  ALL: 0x0005,
  LOCAL_QUORUM: 0x0006,
  EACH_QUORUM: 0x0007,
  SERIAL: 0x0008,
  LOCAL_SERIAL: 0x0009,
  LOCAL_ONE: 0x000a,
} as const

export type ConsistencyName = keyof typeof Consistency

const NAMES = Object.keys(Consistency) as ConsistencyName[]

export function isConsistency(code: number): boolean {
  return Number.isInteger(code) && code >= 0 && code < NAMES.length
}

/** 'LOCAL_QUORUM' for 6; `0x00ff` style for a code the spec does not define. */
export function consistencyName(code: number): string {
  return isConsistency(code) ? NAMES[code]! : `0x${code.toString(16).padStart(4, '0')}`
}
