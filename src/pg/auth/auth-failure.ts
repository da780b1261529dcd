/** The ErrorResponse fields the proxy sends to a client whose authentication failed, before closing it. */
export interface PgAuthError {
  readonly severity: 'FATAL'
  /** 28P01 invalid_password, 08P01 protocol_violation. */
  readonly sqlstate: '28P01' | '08P01'
  readonly message: string
  readonly detail?: string
}

export type ClientAuthFailureReason =
  /** A SASL message arrived out of order (SASLResponse first, anything after the exchange ended). */
  | 'unexpected-message'
  /** The client chose a mechanism the proxy did not offer. */
  | 'unsupported-mechanism'
  /** A message that does not follow the RFC 5802 grammar, or uses an unsupported feature (authzid, m=). */
  | 'malformed-message'
  /** The gs2 header or the c= attribute does not fit the connection (p= without TLS, a downgraded y, a wrong c=). */
  | 'channel-binding'
  /** The client-final nonce is not the one the server sent. */
  | 'nonce-mismatch'
  /** Wrong password, unknown user, or a user not allowed this way: one reason so that nothing tells them apart. */
  | 'authentication-failed'

/** A failed client authentication: what to send (`error`), and what only the debug log may see (`logDetail`). */
export interface ClientAuthFailure {
  readonly reason: ClientAuthFailureReason
  /** Send this as the ErrorResponse and close; it is identical for a wrong password and an unknown user. */
  readonly error: PgAuthError
  /** For the proxy's debug log only. May say that the user does not exist: never send it to the client. */
  readonly logDetail: string
}

/** PostgreSQL's answer to any failed password check (auth.c, auth_failed()): nothing about the cause. */
export function passwordAuthenticationFailed(user: string): PgAuthError {
  return { severity: 'FATAL', sqlstate: '28P01', message: `password authentication failed for user "${user}"` }
}

/** A SASL exchange that broke the protocol (PostgreSQL: ERRCODE_PROTOCOL_VIOLATION with a detail). */
export function saslProtocolViolation(message: string, detail: string): PgAuthError {
  return { severity: 'FATAL', sqlstate: '08P01', message, detail }
}

/** The failure for a wrong password and for an unknown user; only `logDetail` differs between the two. */
export function authenticationFailed(user: string, logDetail: string): ClientAuthFailure {
  return { reason: 'authentication-failed', error: passwordAuthenticationFailed(user), logDetail }
}
