import { connect } from 'node:net'

/** v4 frame header: version, flags, stream (2 bytes), opcode, body length (4 bytes). Spec §2. */
const OPTIONS_FRAME = Buffer.from([0x04, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00])
const RESPONSE_V4 = 0x84
const OPCODE_SUPPORTED = 0x06

/**
 * True when the node answers OPTIONS with SUPPORTED: its native transport is serving. No login:
 * a restarted node must count as up before its peers are, and reading the default superuser
 * needs QUORUM of system_auth, i.e. other nodes.
 */
export function nativeTransportReady(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs })
    let got = Buffer.alloc(0)
    const done = (ok: boolean): void => {
      socket.destroy()
      resolve(ok)
    }
    socket.once('connect', () => socket.write(OPTIONS_FRAME))
    socket.on('data', (chunk: Buffer) => {
      got = Buffer.concat([got, chunk])
      if (got.length >= 5) done(got[0] === RESPONSE_V4 && got[4] === OPCODE_SUPPORTED)
    })
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
    socket.once('end', () => done(false))
  })
}
