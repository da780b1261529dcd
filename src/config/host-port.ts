export interface HostPort {
  /** Host name or IP address; IPv6 addresses without their brackets, as `net.connect` wants them. */
  readonly host: string
  readonly port: number
}

export class HostPortError extends Error {
  override readonly name = 'HostPortError'

  constructor(
    readonly text: string,
    /** Why the text is not a host:port, without the text itself. */
    readonly reason: string,
  ) {
    super(`invalid address ${JSON.stringify(text)}: ${reason}`)
  }
}

const HOST_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$/
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9._-]+)?$/
const PORT = /^\d{1,5}$/

/**
 * Splits "host:port" ("127.0.0.1:6432", "db.internal:5432", "[::1]:9042"). When `defaultPort` is
 * given, the port may be left out ("127.0.1.1" → port 9042). Throws a HostPortError otherwise.
 */
export function hostPort(text: string, defaultPort?: number): HostPort {
  let host: string
  let portText: string | undefined
  if (text.startsWith('[')) {
    const close = text.indexOf(']')
    host = text.slice(1, close === -1 ? text.length : close)
    const rest = close === -1 ? undefined : text.slice(close + 1)
    if (rest === undefined || !IPV6.test(host)) {
      throw new HostPortError(text, 'expected an IPv6 address in brackets, like "[::1]:6432"')
    }
    if (rest !== '' && !rest.startsWith(':')) throw new HostPortError(text, 'expected ":port" after "]"')
    portText = rest === '' ? undefined : rest.slice(1)
  } else {
    const colon = text.lastIndexOf(':')
    host = colon === -1 ? text : text.slice(0, colon)
    portText = colon === -1 ? undefined : text.slice(colon + 1)
    if (host.includes(':')) {
      throw new HostPortError(text, 'write IPv6 addresses in brackets, like "[::1]:6432"')
    }
    if (!HOST_NAME.test(host)) throw new HostPortError(text, 'expected a host name or IP address before ":"')
  }
  if (portText === undefined) {
    if (defaultPort === undefined) throw new HostPortError(text, 'missing ":port"')
    return { host, port: defaultPort }
  }
  const port = Number(portText)
  if (!PORT.test(portText) || port < 1 || port > 65_535) {
    throw new HostPortError(text, 'port must be an integer from 1 to 65535')
  }
  return { host, port }
}

/** The inverse of hostPort: brackets IPv6 hosts again. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}
