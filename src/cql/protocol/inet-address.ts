import { isIPv4, isIPv6 } from 'node:net'

/** An [inet]: an IP address in text form and a port, as EVENT frames carry a node's address. */
export interface InetAddress {
  address: string
  port: number
}

/** The 4 or 16 address bytes of an [inet] as text: dotted IPv4, or IPv6 in lowercase hex with the longest zero run compressed. */
export function formatIpAddress(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join('.')
  if (bytes.length !== 16) throw new RangeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`)
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i]! << 8) | bytes[i + 1]!).toString(16))
  // The WHATWG URL host serializer compresses the longest run of zero groups, as RFC 5952 does.
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1)
}

/** The bytes of a textual IPv4 or IPv6 address (no zone id), for an [inet]. */
export function parseIpAddress(text: string): Buffer {
  if (isIPv4(text)) return Buffer.from(text.split('.').map(Number))
  if (!isIPv6(text) || text.includes('%')) throw new RangeError(`not an IPv4 or IPv6 address: ${JSON.stringify(text)}`)
  // Normalising through URL turns an embedded IPv4 tail into hex groups, so only '::' remains to expand.
  const normalised = new URL(`http://[${text}]`).hostname.slice(1, -1)
  const [head = '', tail] = normalised.split('::')
  const headGroups = head === '' ? [] : head.split(':')
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros: string[] = new Array<string>(8 - headGroups.length - tailGroups.length).fill('0')
  const bytes = Buffer.alloc(16)
  ;[...headGroups, ...zeros, ...tailGroups].forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2))
  return bytes
}
