import { timingSafeEqual } from 'node:crypto'
import { deriveScramKeys, type ScramKeys } from './scram-verifier.js'
import {
  SCRAM_KEY_LENGTH,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  decodeBase64Strict,
  encodeSaslName,
  hmacSha256,
  isScramPrintable,
  scramAttribute,
  scramBytes,
  scramText,
  sha256,
  xorBytes,
  type ScramChannelBinding,
} from './scram-syntax.js'

// The client side of SCRAM-SHA-256 (RFC 5802, RFC 7677), used by Grey toward its PostgreSQL backends,
// as libpq's fe-auth-scram.c runs it: start → client-first, continue(server-first) → client-final,
// finish(server-final) verifies the server signature. The connection shell must treat the backend's
// AuthenticationOk as success only once finishScramClient() returned `verified`: a backend that skips
// SASLFinal, or cannot sign, has not proven that it knows the verifier.

/** node-postgres' scramMaxIterations default: a hostile backend must not make us run PBKDF2 for minutes. */
export const SCRAM_CLIENT_DEFAULT_MAX_ITERATIONS = 100_000

export interface ScramClientOptions {
  readonly password: string | Uint8Array
  /** Printable client nonce: encodeScramNonce(randomBytes(18)). */
  readonly clientNonce: string
  /** The mechanisms of the backend's AuthenticationSASL. */
  readonly serverMechanisms: readonly string[]
  /** Present when the backend connection is TLS: the backend certificate's tls-server-end-point hash. */
  readonly channelBinding?: ScramChannelBinding
  /** Refuse to authenticate without channel binding (libpq channel_binding=require). */
  readonly requireChannelBinding?: boolean
  /** n= of client-first. Default "" as libpq sends: PostgreSQL takes the user from the startup message. */
  readonly username?: string
  /** Highest iteration count accepted from the backend. Default SCRAM_CLIENT_DEFAULT_MAX_ITERATIONS. */
  readonly maxIterations?: number
  /** Keys from an earlier login as this user: used when the backend sends the same salt and iteration count, skipping PBKDF2. */
  readonly cachedKeys?: ScramKeys
}

export type ScramClientFailureReason =
  | 'no-supported-mechanism'
  | 'channel-binding-required'
  | 'malformed-server-first'
  | 'nonce-mismatch'
  | 'iteration-count-too-high'
  | 'malformed-server-final'
  | 'server-error'
  | 'server-signature-mismatch'
  | 'unexpected-message'

/** Why Grey refused a backend's SCRAM exchange; the shell logs `message` and closes the backend connection. */
export interface ScramClientFailure {
  readonly reason: ScramClientFailureReason
  readonly message: string
}

export type ScramClientState =
  | {
      readonly phase: 'awaiting-server-first'
      readonly options: ScramClientOptions
      readonly gs2Header: string
      readonly mechanism: string
      readonly clientFirstBare: string
    }
  | { readonly phase: 'awaiting-server-final'; readonly expectedServerSignature: Buffer }
  | { readonly phase: 'verified' }
  | { readonly phase: 'failed' }

export type ScramClientStart =
  /** Send SASLInitialResponse(mechanism, data). */
  | { readonly ok: true; readonly state: ScramClientState; readonly mechanism: string; readonly data: Buffer }
  | { readonly ok: false; readonly state: ScramClientState; readonly failure: ScramClientFailure }

export type ScramClientContinue =
  /** Send SASLResponse(data). `keys` may be cached and passed as `cachedKeys` next time. */
  | { readonly ok: true; readonly state: ScramClientState; readonly data: Buffer; readonly keys: ScramKeys }
  | { readonly ok: false; readonly state: ScramClientState; readonly failure: ScramClientFailure }

export type ScramClientFinish =
  | { readonly ok: true; readonly state: ScramClientState }
  | { readonly ok: false; readonly state: ScramClientState; readonly failure: ScramClientFailure }

/** Picks the mechanism and gs2 header (libpq's rules) and builds client-first-message. */
export function startScramClient(options: ScramClientOptions): ScramClientStart {
  if (!isScramPrintable(options.clientNonce)) throw new RangeError('grey: the SCRAM client nonce must be printable ASCII without ","')
  const cb = options.channelBinding
  let mechanism: string
  let gs2Header: string
  if (cb && options.serverMechanisms.includes(SCRAM_SHA_256_PLUS)) {
    mechanism = SCRAM_SHA_256_PLUS
    gs2Header = `p=${cb.type},,`
  } else if (options.requireChannelBinding === true) {
    return failed('channel-binding-required', 'channel binding is required, but the backend did not offer SCRAM-SHA-256-PLUS over TLS')
  } else if (options.serverMechanisms.includes(SCRAM_SHA_256)) {
    mechanism = SCRAM_SHA_256
    // `y`: we could bind but the server did not offer it, so a stripped -PLUS is detectable (RFC 5802 §6).
    gs2Header = cb ? 'y,,' : 'n,,'
  } else {
    return failed(
      'no-supported-mechanism',
      `the backend offers SASL mechanisms ${JSON.stringify(options.serverMechanisms)}; Grey speaks ${SCRAM_SHA_256}`,
    )
  }
  const clientFirstBare = `n=${encodeSaslName(options.username ?? '')},r=${options.clientNonce}`
  return {
    ok: true,
    state: { phase: 'awaiting-server-first', options, gs2Header, mechanism, clientFirstBare },
    mechanism,
    data: scramBytes(gs2Header + clientFirstBare),
  }
}

/** Checks server-first-message and answers with client-final-message (the proof). */
export function continueScramClient(state: ScramClientState, serverFirstData: Uint8Array): ScramClientContinue {
  if (state.phase !== 'awaiting-server-first') return failed('unexpected-message', `server-first-message arrived while ${state.phase}`)
  const { options } = state
  const serverFirst = scramText(serverFirstData)
  const parts = serverFirst.split(',')
  if (parts[0]?.startsWith('m=')) return failed('malformed-server-first', 'the backend requires an unsupported SCRAM extension (m=)')
  const nonce = scramAttribute(parts[0])
  const salt = scramAttribute(parts[1])
  const iterations = scramAttribute(parts[2])
  if (
    nonce?.name !== 'r' ||
    salt?.name !== 's' ||
    iterations?.name !== 'i' ||
    parts.slice(3).some((ext) => scramAttribute(ext) === undefined)
  ) {
    return failed('malformed-server-first', 'server-first-message is not r=…,s=…,i=…')
  }
  if (!isScramPrintable(nonce.value) || !nonce.value.startsWith(options.clientNonce) || nonce.value.length === options.clientNonce.length) {
    return failed('nonce-mismatch', 'the backend nonce does not extend the client nonce')
  }
  const saltBytes = decodeBase64Strict(salt.value)
  if (!saltBytes || saltBytes.length === 0) return failed('malformed-server-first', 'the salt is not base64')
  const maxIterations = options.maxIterations ?? SCRAM_CLIENT_DEFAULT_MAX_ITERATIONS
  if (!/^[1-9][0-9]{0,9}$/.test(iterations.value)) {
    return failed('malformed-server-first', `invalid iteration count ${JSON.stringify(iterations.value)}`)
  }
  const iterationCount = Number(iterations.value)
  if (iterationCount > maxIterations) {
    return failed('iteration-count-too-high', `the backend asks for ${iterationCount} PBKDF2 iterations; the limit is ${maxIterations}`)
  }

  const cached = options.cachedKeys
  const keys =
    cached && cached.iterations === iterationCount && cached.salt.equals(saltBytes)
      ? cached
      : deriveScramKeys(options.password, saltBytes, iterationCount)
  const cb = options.channelBinding
  const bindingInput =
    state.mechanism === SCRAM_SHA_256_PLUS && cb ? Buffer.concat([scramBytes(state.gs2Header), cb.data]) : scramBytes(state.gs2Header)
  const clientFinalWithoutProof = `c=${bindingInput.toString('base64')},r=${nonce.value}`
  const authMessage = scramBytes(`${state.clientFirstBare},${serverFirst},${clientFinalWithoutProof}`)
  // ClientProof = ClientKey XOR HMAC(StoredKey, AuthMessage), StoredKey = H(ClientKey) (RFC 5802 §3).
  const proof = xorBytes(keys.clientKey, hmacSha256(sha256(keys.clientKey), authMessage))
  return {
    ok: true,
    state: { phase: 'awaiting-server-final', expectedServerSignature: hmacSha256(keys.serverKey, authMessage) },
    data: scramBytes(`${clientFinalWithoutProof},p=${proof.toString('base64')}`),
    keys,
  }
}

/** Verifies server-final-message: only a server that holds the verifier can produce the signature. */
export function finishScramClient(state: ScramClientState, serverFinalData: Uint8Array): ScramClientFinish {
  if (state.phase !== 'awaiting-server-final') return failed('unexpected-message', `server-final-message arrived while ${state.phase}`)
  const attr = scramAttribute(scramText(serverFinalData).split(',')[0])
  if (attr?.name === 'e') return failed('server-error', `the backend ended the SCRAM exchange with error "${attr.value}"`)
  const signature = attr?.name === 'v' ? decodeBase64Strict(attr.value) : undefined
  if (signature?.length !== SCRAM_KEY_LENGTH) return failed('malformed-server-final', 'server-final-message has no valid v= signature')
  if (!timingSafeEqual(signature, state.expectedServerSignature)) {
    return failed('server-signature-mismatch', "the backend server signature is wrong: it does not know this role's SCRAM verifier")
  }
  return { ok: true, state: { phase: 'verified' } }
}

function failed(reason: ScramClientFailureReason, detail: string): { ok: false; state: ScramClientState; failure: ScramClientFailure } {
  return { ok: false, state: { phase: 'failed' }, failure: { reason, message: `grey: backend SCRAM authentication failed: ${detail}` } }
}
