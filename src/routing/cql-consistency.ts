import type { ConsistencyLevel } from '../config/config-schema.js'

/** [consistency] levels, a [short] on the wire (native protocol v4 spec §3). */
export const CqlConsistency = {
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

export type CqlConsistencyName = keyof typeof CqlConsistency
export type CqlConsistencyCode = (typeof CqlConsistency)[CqlConsistencyName]

const NAMES = Object.keys(CqlConsistency) as CqlConsistencyName[]

/** Whether `code` is one of the eleven levels the spec defines. */
export function isCqlConsistency(code: number): code is CqlConsistencyCode {
  return Number.isInteger(code) && code >= 0 && code < NAMES.length
}

/** 'LOCAL_QUORUM' for 6; `0x00ff` style for a code the spec does not define. */
export function cqlConsistencyName(code: number): string {
  return isCqlConsistency(code) ? NAMES[code]! : `0x${code.toString(16).padStart(4, '0')}`
}

/** SERIAL and LOCAL_SERIAL: the Paxos levels of lightweight transactions and linearizable reads. */
export function isSerialConsistency(code: number): boolean {
  return code === CqlConsistency.SERIAL || code === CqlConsistency.LOCAL_SERIAL
}

const GREY_LEVELS: Readonly<Record<CqlConsistencyName, ConsistencyLevel>> = {
  ANY: 'eventual',
  ONE: 'eventual',
  TWO: 'eventual',
  THREE: 'eventual',
  LOCAL_ONE: 'eventual',
  // Read-your-writes when the client reads and writes LOCAL_QUORUM in one DC: the two quorums overlap.
  LOCAL_QUORUM: 'session',
  QUORUM: 'strong',
  EACH_QUORUM: 'strong',
  ALL: 'strong',
  SERIAL: 'strong',
  // A Paxos round among the coordinator's DC only; linearizable all the same, because Grey sends every
  // lightweight transaction and serial read to one DC (the primary region's), so they share one Paxos group.
  LOCAL_SERIAL: 'strong',
}

/**
 * The Grey consistency level a CQL consistency code asks for (ARCHITECTURE §3): ONE, LOCAL_ONE, ANY, TWO and
 * THREE are eventual, LOCAL_QUORUM is session, QUORUM, EACH_QUORUM, ALL, SERIAL and LOCAL_SERIAL are strong.
 * Undefined for a code the spec does not define.
 */
export function grayLevelOfCql(code: number): ConsistencyLevel | undefined {
  return isCqlConsistency(code) ? GREY_LEVELS[NAMES[code]!] : undefined
}
