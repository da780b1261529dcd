import { setTimeout as sleep } from 'node:timers/promises'
import { errors, types } from 'cassandra-driver'

const AUTH_SETTLE_TIMEOUT_MS = 60_000
const RETRY_MS = 500

function isTransientAuthError(err: unknown): boolean {
  if (err instanceof errors.ResponseError) {
    return (
      err.code === types.responseErrorCodes.unauthorized ||
      err.code === types.responseErrorCodes.unavailableException ||
      // A node that has just joined is not NORMAL in every peer's gossip yet; ALTER KEYSPACE waits for that.
      /some endpoints are not in normal state/.test(err.message)
    )
  }
  if (err instanceof errors.NoHostAvailableError) {
    const inner: unknown = err.innerErrors
    return typeof inner === 'object' && inner !== null && Object.values(inner).some(isTransientAuthError)
  }
  return false
}

/**
 * Runs `action`, retrying while it fails the way a freshly started cluster or a freshly moved
 * system_auth makes it fail. Each
 * node caches roles for roles_validity (2 s); a cache entry loaded while the new replicas were still
 * empty says the default superuser is no superuser ("has no CREATE permission") until it expires.
 */
export async function untilAuthSettles<T>(action: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + AUTH_SETTLE_TIMEOUT_MS
  for (;;) {
    try {
      return await action()
    } catch (err) {
      if (!isTransientAuthError(err) || Date.now() >= deadline) throw err
      await sleep(RETRY_MS)
    }
  }
}
