import t from 'tap'
import { formatHostPort, hostPort, HostPortError } from '../../src/config/host-port.js'

const valid: [text: string, defaultPort: number | undefined, host: string, port: number][] = [
  ['127.0.0.1:6432', undefined, '127.0.0.1', 6432],
  ['db.internal:5432', undefined, 'db.internal', 5432],
  ['localhost:1', undefined, 'localhost', 1],
  ['localhost:65535', undefined, 'localhost', 65_535],
  ['[::1]:9042', undefined, '::1', 9042],
  ['[fe80::1%eth0]:7400', undefined, 'fe80::1%eth0', 7400],
  ['127.0.1.1', 9042, '127.0.1.1', 9042],
  ['127.0.1.1:9142', 9042, '127.0.1.1', 9142],
  ['[::1]', 9042, '::1', 9042],
]

for (const [text, defaultPort, host, port] of valid) {
  t.strictSame(hostPort(text, defaultPort), { host, port }, `${text} (default port ${defaultPort})`)
}

const invalid: [text: string, reason: string][] = [
  ['127.0.0.1', 'missing ":port"'],
  ['127.0.0.1:0', 'port must be an integer from 1 to 65535'],
  ['127.0.0.1:65536', 'port must be an integer from 1 to 65535'],
  ['127.0.0.1:', 'port must be an integer from 1 to 65535'],
  ['127.0.0.1:80a', 'port must be an integer from 1 to 65535'],
  ['127.0.0.1:-1', 'port must be an integer from 1 to 65535'],
  [':6432', 'expected a host name or IP address before ":"'],
  ['my host:6432', 'expected a host name or IP address before ":"'],
  ['::1:6432', 'write IPv6 addresses in brackets, like "[::1]:6432"'],
  ['[::1:6432', 'expected an IPv6 address in brackets, like "[::1]:6432"'],
  ['[not-ipv6]:6432', 'expected an IPv6 address in brackets, like "[::1]:6432"'],
  ['[::1]6432', 'expected ":port" after "]"'],
]

for (const [text, reason] of invalid) {
  t.throws(() => hostPort(text), new HostPortError(text, reason), `rejects ${text}: ${reason}`)
}

t.test('the error names the text and the reason', async (t) => {
  const error = t.throws(() => hostPort('localhost'))
  t.type(error, HostPortError)
  t.equal((error as HostPortError).message, 'invalid address "localhost": missing ":port"')
  t.equal((error as HostPortError).reason, 'missing ":port"')
  t.equal((error as HostPortError).name, 'HostPortError')
})

t.equal(formatHostPort({ host: '127.0.0.1', port: 6432 }), '127.0.0.1:6432')
t.equal(formatHostPort({ host: '::1', port: 9042 }), '[::1]:9042', 'IPv6 gets its brackets back')
