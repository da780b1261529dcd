/** Cassandra 4.0+ internode handshake (HandshakeProtocol.Initiate) starts with this magic. */
const PROTOCOL_MAGIC = 0xca552dfa
/** Offset of the sender's address after magic (4 bytes) and flags (4 bytes): a length byte, then the address. */
const FROM_OFFSET = 8
export const CASSANDRA_HANDSHAKE_PEEK_BYTES = FROM_OFFSET + 1 + 4

/**
 * The IPv4 broadcast address a Cassandra node names as the sender in the first bytes of an
 * internode connection, or null when the bytes are not such a handshake. Cassandra opens its
 * outbound connections from the loopback default (127.0.0.1), so the source address tells nothing.
 */
export function cassandraHandshakeSender(firstBytes: Buffer): string | null {
  if (firstBytes.length < CASSANDRA_HANDSHAKE_PEEK_BYTES) return null
  if (firstBytes.readUInt32BE(0) !== PROTOCOL_MAGIC) return null
  // Length 6: a 4-byte IPv4 address and a 2-byte port (CompactEndpointSerializationHelper).
  if (firstBytes[FROM_OFFSET] !== 6) return null
  return [...firstBytes.subarray(FROM_OFFSET + 1, FROM_OFFSET + 5)].join('.')
}
