import { timingSafeEqual } from 'node:crypto'
import { authenticationFailed, saslProtocolViolation, type ClientAuthFailure, type ClientAuthFailureReason } from './auth-failure.js'
import type { ScramVerifier } from './scram-verifier.js'
import {
  SCRAM_KEY_LENGTH,
  SCRAM_SHA_256,
  SCRAM_SHA_256_PLUS,
  decodeBase64Strict,
  hmacSha256,
  isScramPrintable,
  scramAttribute,
  scramBytes,
  scramText,
  sha256,
  xorBytes,
  type ScramChannelBinding,
} from './scram-syntax.js'

// The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) toward clients, as PostgreSQL's auth-scram.c
// runs it: a pure state machine; the session shell sends AuthenticationSASL with scramServerMechanisms(),
// feeds each SASLInitialResponse / SASLResponse to stepScramServer() and sends what comes out.

export interface ScramServerOptions {
  /** The startup packet's user; PostgreSQL ignores the n= of client-first, and so do we. */
  readonly username: string
  /** The user's verifier, or mockScramVerifier() for a user that does not exist. */
  readonly verifier: ScramVerifier
  /**
   * True when `verifier` is a mock (unknown user, user not allowed this way): the exchange runs through
   * the same steps and fails at the proof with the same error as a wrong password (PostgreSQL: doomed).
   */
  readonly doomed?: boolean
  /** Printable server nonce part, appended to the client's: encodeScramNonce(randomBytes(18)). */
  readonly serverNonce: string
  /** Present only when the client connection is TLS: then SCRAM-SHA-256-PLUS is offered and `y` is a downgrade. */
  readonly channelBinding?: ScramChannelBinding
}

/** The SASL messages a client sends, with the payloads of the PostgreSQL messages. */
export type ScramClientMessage =
  /** `data` is null when the client sent length -1 (no initial response). */
  | { readonly type: 'SASLInitialResponse'; readonly mechanism: string; readonly data: Uint8Array | null }
  | { readonly type: 'SASLResponse'; readonly data: Uint8Array }

export type ScramServerState =
  | { readonly phase: 'awaiting-client-first'; readonly options: ScramServerOptions }
  | {
      readonly phase: 'awaiting-client-final'
      readonly options: ScramServerOptions
      /** Expected c= value: base64(gs2 header [+ channel binding data]). */
      readonly expectedChannelBinding: string
      readonly nonce: string
      readonly clientFirstBare: string
      readonly serverFirst: string
    }
  | { readonly phase: 'authenticated' }
  | { readonly phase: 'failed' }

export type ScramServerOutput =
  /** Send AuthenticationSASLContinue with `data` (server-first-message). */
  | { readonly type: 'sasl-continue'; readonly data: Buffer }
  /** Send AuthenticationSASLFinal with `data` (server-final-message), then AuthenticationOk. */
  | { readonly type: 'sasl-final'; readonly data: Buffer }
  /** Send `failure.error` as an ErrorResponse and close the connection. */
  | { readonly type: 'failed'; readonly failure: ClientAuthFailure }

export interface ScramServerStep {
  readonly state: ScramServerState
  readonly output: ScramServerOutput
}

/** The mechanisms for AuthenticationSASL, in PostgreSQL's order: -PLUS only when the connection is TLS. */
export function scramServerMechanisms(channelBinding: ScramChannelBinding | undefined): string[] {
  return channelBinding ? [SCRAM_SHA_256_PLUS, SCRAM_SHA_256] : [SCRAM_SHA_256]
}

export function startScramServer(options: ScramServerOptions): ScramServerState {
  if (!isScramPrintable(options.serverNonce)) throw new RangeError('grey: the SCRAM server nonce must be printable ASCII without ","')
  return { phase: 'awaiting-client-first', options }
}

export function stepScramServer(state: ScramServerState, message: ScramClientMessage): ScramServerStep {
  if (state.phase === 'awaiting-client-first' && message.type === 'SASLInitialResponse') return receiveClientFirst(state.options, message)
  if (state.phase === 'awaiting-client-final' && message.type === 'SASLResponse') return receiveClientFinal(state, message.data)
  return fail('unexpected-message', 'malformed SCRAM message', `unexpected ${message.type} while ${state.phase}`)
}

function receiveClientFirst(options: ScramServerOptions, message: { mechanism: string; data: Uint8Array | null }): ScramServerStep {
  const tls = options.channelBinding
  const plus = message.mechanism === SCRAM_SHA_256_PLUS
  if (!(message.mechanism === SCRAM_SHA_256 || (plus && tls))) {
    return fail('unsupported-mechanism', 'client selected an invalid SASL authentication mechanism', `mechanism ${message.mechanism}`)
  }
  if (message.data === null) return malformed('The client sent no initial SASL response.')
  const text = scramText(message.data)
  const parts = text.split(',')
  const cbindFlag = parts[0] as string
  if (parts.length < 3) return malformed('Expected a gs2 header followed by client-first-message-bare.')

  // gs2-cbind-flag (RFC 5802 §6; PostgreSQL read_client_first_message()).
  if (cbindFlag === 'n') {
    if (plus)
      return channelBindingFailure('The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.')
  } else if (cbindFlag === 'y') {
    if (plus)
      return channelBindingFailure('The client selected SCRAM-SHA-256-PLUS, but the SCRAM message does not include channel binding data.')
    // `y` = "I could bind, but you did not offer it": over TLS we did offer -PLUS, so this is a downgrade.
    if (tls) return channelBindingFailure('The client supports SCRAM channel binding but thinks the server does not.')
  } else if (cbindFlag.startsWith('p=')) {
    if (!tls) return channelBindingFailure('The client requires channel binding, but the connection is not TLS.')
    if (!plus)
      return channelBindingFailure(
        'The client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data.',
      )
    if (cbindFlag !== 'p=tls-server-end-point')
      return channelBindingFailure(`Unsupported SCRAM channel-binding type "${cbindFlag.slice(2)}".`)
  } else {
    return malformed(`Unexpected channel-binding flag "${cbindFlag}".`)
  }
  if (parts[1] !== '') return malformed('The client uses an authorization identity, which is not supported.')

  const gs2Header = `${cbindFlag},,`
  const clientFirstBare = text.slice(gs2Header.length)
  const bare = parts.slice(2)
  if (bare[0]?.startsWith('m=')) return malformed('The client requires an unsupported SCRAM extension.')
  if (scramAttribute(bare[0])?.name !== 'n') return malformed('Expected attribute "n" (user name) in client-first-message.')
  const clientNonce = scramAttribute(bare[1])
  if (clientNonce?.name !== 'r' || !isScramPrintable(clientNonce.value)) {
    return malformed('Expected attribute "r" with a printable client nonce in client-first-message.')
  }
  if (bare.slice(2).some((ext) => scramAttribute(ext) === undefined)) return malformed('Malformed extension in client-first-message.')

  const nonce = clientNonce.value + options.serverNonce
  const { salt, iterations } = options.verifier
  const serverFirst = `r=${nonce},s=${salt.toString('base64')},i=${iterations}`
  const bindingInput = plus && tls ? Buffer.concat([scramBytes(gs2Header), tls.data]) : scramBytes(gs2Header)
  return {
    state: {
      phase: 'awaiting-client-final',
      options,
      expectedChannelBinding: bindingInput.toString('base64'),
      nonce,
      clientFirstBare,
      serverFirst,
    },
    output: { type: 'sasl-continue', data: scramBytes(serverFirst) },
  }
}

function receiveClientFinal(state: Extract<ScramServerState, { phase: 'awaiting-client-final' }>, data: Uint8Array): ScramServerStep {
  const parts = scramText(data).split(',')
  const channelBinding = scramAttribute(parts[0])
  const nonce = scramAttribute(parts[1])
  if (channelBinding?.name !== 'c') return malformed('Expected attribute "c" (channel binding) in client-final-message.')
  if (nonce?.name !== 'r') return malformed('Expected attribute "r" (nonce) in client-final-message.')
  // Extensions may sit between r= and p=; the proof is the first p= and must end the message.
  const proofAt = parts.findIndex((part, i) => i >= 2 && scramAttribute(part)?.name === 'p')
  if (proofAt < 0) return malformed('Expected attribute "p" (proof) in client-final-message.')
  if (parts.slice(2, proofAt).some((ext) => scramAttribute(ext) === undefined))
    return malformed('Malformed extension in client-final-message.')
  if (proofAt !== parts.length - 1) return malformed('Garbage found at the end of client-final-message.')
  const proof = decodeBase64Strict((parts[proofAt] as string).slice(2))
  if (proof?.length !== SCRAM_KEY_LENGTH) return malformed('Malformed proof in client-final-message.')

  if (channelBinding.value !== state.expectedChannelBinding) {
    return channelBindingFailure('SCRAM channel binding check failed: the c= attribute does not match the gs2 header and the connection.')
  }
  if (nonce.value !== state.nonce) return fail('nonce-mismatch', 'invalid SCRAM response', 'Nonce does not match.')

  // RFC 5802 §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage); accept iff H(ClientKey) = StoredKey.
  // A doomed (mock) exchange does exactly the same work and then fails with the same error.
  const { verifier, doomed, username } = state.options
  const clientFinalWithoutProof = parts.slice(0, proofAt).join(',')
  const authMessage = scramBytes(`${state.clientFirstBare},${state.serverFirst},${clientFinalWithoutProof}`)
  const clientKey = xorBytes(proof, hmacSha256(verifier.storedKey, authMessage))
  const proofMatches = timingSafeEqual(sha256(clientKey), verifier.storedKey)
  if (!proofMatches || doomed === true) {
    const logDetail = doomed === true ? 'SCRAM exchange for a user without a usable verifier (mock verifier)' : 'SCRAM proof does not match'
    return { state: { phase: 'failed' }, output: { type: 'failed', failure: authenticationFailed(username, logDetail) } }
  }
  const serverSignature = hmacSha256(verifier.serverKey, authMessage)
  return { state: { phase: 'authenticated' }, output: { type: 'sasl-final', data: scramBytes(`v=${serverSignature.toString('base64')}`) } }
}

function malformed(detail: string): ScramServerStep {
  return fail('malformed-message', 'malformed SCRAM message', detail)
}

function channelBindingFailure(detail: string): ScramServerStep {
  return fail('channel-binding', 'SCRAM channel binding negotiation error', detail)
}

function fail(reason: Exclude<ClientAuthFailureReason, 'authentication-failed'>, message: string, detail: string): ScramServerStep {
  const failure: ClientAuthFailure = { reason, error: saslProtocolViolation(message, detail), logDetail: detail }
  return { state: { phase: 'failed' }, output: { type: 'failed', failure } }
}
