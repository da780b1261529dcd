import { createHash, createHmac } from 'node:crypto'

// RFC 5802 §7 grammar pieces and the SCRAM-SHA-256 primitives (RFC 7677) shared by both ends.

/** PostgreSQL (SCRAM_RAW_NONCE_LEN) and libpq use 18 random bytes, base64-encoded, as their nonce. */
export const SCRAM_RAW_NONCE_LENGTH = 18
export const SCRAM_KEY_LENGTH = 32
export const SCRAM_SHA_256 = 'SCRAM-SHA-256'
export const SCRAM_SHA_256_PLUS = 'SCRAM-SHA-256-PLUS'

/** `tls-server-end-point` channel binding data (RFC 5929 §4): the hash of the server's TLS certificate. */
export interface ScramChannelBinding {
  readonly type: 'tls-server-end-point'
  readonly data: Uint8Array
}

/** A nonce for either side from random bytes the caller supplies (crypto.randomBytes(SCRAM_RAW_NONCE_LENGTH)). */
export function encodeScramNonce(randomBytes: Uint8Array): string {
  if (randomBytes.length === 0) throw new RangeError('grey: a SCRAM nonce needs at least one random byte')
  return Buffer.from(randomBytes).toString('base64')
}

/** printable = %x21-2B / %x2D-7E: printable ASCII except ",". */
export function isScramPrintable(text: string): boolean {
  if (text.length === 0) return false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x21 || c > 0x7e || c === 0x2c) return false
  }
  return true
}

/** Standard base64 with padding, canonical only (Buffer.from is lenient, so re-encode and compare). */
export function decodeBase64Strict(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined
  const bytes = Buffer.from(text, 'base64')
  return bytes.toString('base64') === text ? bytes : undefined
}

/** One `a=value` attribute of a SCRAM message, split on ","; undefined when it is not of that form. */
export function scramAttribute(part: string | undefined): { name: string; value: string } | undefined {
  if (part === undefined || part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0] as string)) return undefined
  return { name: part[0] as string, value: part.slice(2) }
}

/** saslname (RFC 5802 §5.1): "," and "=" are written =2C and =3D. */
export function encodeSaslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C')
}

export function hmacSha256(key: Uint8Array, data: Uint8Array | string): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest()
}

export function xorBytes(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number)
  return out
}

/** SCRAM messages are bytes; latin1 maps them 1:1 onto a string so that AuthMessage keeps them exactly. */
export function scramText(data: Uint8Array): string {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('latin1')
}

export function scramBytes(text: string): Buffer {
  return Buffer.from(text, 'latin1')
}
