import { createHash } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { parseIpAddress } from './protocol/inet-address.js'
import type { RowsResult } from './protocol/response-messages.js'

/** How Grey presents itself to drivers: the one node of its region's datacenter. */
export interface GreyNodeIdentity {
  /** The region: the driver's localDataCenter. */
  datacenter: string
  /** Stable across restarts: derived from the instance id. */
  hostId: Buffer
  /** The address and port clients reach Grey at. */
  address: string
  port: number
}

export function greyNodeIdentity(instanceId: string, datacenter: string, listen: { host: string; port: number }): GreyNodeIdentity {
  const hash = createHash('sha1').update(`grey host_id\0${instanceId}`).digest().subarray(0, 16)
  // RFC 4122 name-based (version 5) layout, so tools that parse it see a well-formed UUID.
  hash[6] = (hash[6]! & 0x0f) | 0x50
  hash[8] = (hash[8]! & 0x3f) | 0x80
  const address = isIPv4(listen.host) || listen.host.includes(':') ? listen.host : '127.0.0.1'
  return { datacenter, hostId: Buffer.from(hash), address, port: listen.port }
}

/** The one token Grey claims: it owns the whole ring, so drivers send everything to it. */
const TOKEN = '0'

const text = (value: string): Buffer => Buffer.from(value, 'utf8')
const int = (value: number): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(value)
  return b
}
/** A set<text> cell (v4 spec §6: [int] count, then [int]-length elements). */
function textSet(values: string[]): Buffer {
  return Buffer.concat([int(values.length), ...values.flatMap((v) => [int(Buffer.byteLength(v)), text(v)])])
}

/**
 * A backend's `system.local` rows, rewritten so the driver sees Grey: data_center = Grey's region,
 * Grey's host_id, addresses and port, one token. Versions, partitioner and cluster name stay the
 * backend's. Works on any projection, by column name; needs the column specs (no skip-metadata).
 */
export function rewriteSystemLocal(result: RowsResult, identity: GreyNodeIdentity): RowsResult {
  const columns = result.metadata.columns
  if (!columns) return result
  const inet = parseIpAddress(identity.address)
  const replace = new Map<string, Buffer>([
    ['data_center', text(identity.datacenter)],
    ['host_id', identity.hostId],
    ['tokens', textSet([TOKEN])],
    ['rpc_address', inet],
    ['broadcast_address', inet],
    ['listen_address', inet],
    ['rpc_port', int(identity.port)],
    ['broadcast_port', int(identity.port)],
    ['listen_port', int(identity.port)],
    ['native_port', int(identity.port)],
  ])
  const rows = result.rows.map((row) => row.map((cell, i) => replace.get(columns[i]?.name ?? '') ?? cell))
  return { ...result, rows }
}

/** `system.peers` as drivers must see it: Grey is the only node, so the table is empty (the backend's column specs stay). */
export function emptyPeers(result: RowsResult): RowsResult {
  return { ...result, rows: [], metadata: { ...result.metadata, pagingState: undefined } }
}
