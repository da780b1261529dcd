// CRC-32 (IEEE 802.3, the zlib/gzip polynomial) for the records of the Raft log and snapshot files.
import zlib from 'node:zlib'

const TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** The table-driven CRC-32, for Node versions before 20.15 that lack zlib.crc32. */
export function tableCrc32(data: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of data) crc = (TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** CRC-32 of `data` as an unsigned 32-bit integer; zlib's native one when Node has it. */
export const crc32: (data: Uint8Array) => number = typeof zlib.crc32 === 'function' ? (data) => zlib.crc32(data) : tableCrc32
