import t from 'tap'
import pg from 'pg'
import { serialize } from 'pg-protocol/dist/serializer'
import { Parser } from 'pg-protocol/dist/parser'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { connect as connectTcp } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { md5PasswordHash } from '../../src/pg/auth/md5-auth.js'
import { continueScramClient, finishScramClient, startScramClient, type ScramClientFailure } from '../../src/pg/auth/scram-client.js'
import { startScramServer, stepScramServer } from '../../src/pg/auth/scram-server.js'
import { encodeScramNonce } from '../../src/pg/auth/scram-syntax.js'
import {
  ScramVerifierParseError,
  formatScramVerifier,
  makeScramVerifier,
  parseScramVerifier,
  type ScramVerifier,
} from '../../src/pg/auth/scram-verifier.js'
import { freePort } from '../fixtures/free-port.js'

// A throwaway PostgreSQL 15 cluster: its own verifiers (pg_authid.rolpassword) must match ours for the
// same salt, our server must accept its verifiers, and our SCRAM client must log in to it over a raw socket.

const PG_BIN = '/usr/lib/postgresql/15/bin'
const started = Date.now()

if (!existsSync(join(PG_BIN, 'initdb'))) {
  t.plan(0, `PostgreSQL 15 server binaries not found at ${PG_BIN}`)
  process.exit(0)
}

/** PostgreSQL refuses to run as root: then it runs as the Debian `postgres` user. */
function pgOwner(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
  const [, , uid, gid] = line?.split(':') ?? []
  if (!uid || !gid) throw new Error('running as root needs the "postgres" system user to own the test cluster')
  return { uid: Number(uid), gid: Number(gid) }
}

const owner = pgOwner()
const dir = mkdtempSync(join(tmpdir(), 'grey-pg-auth-'))
if (owner) chownSync(dir, owner.uid, owner.gid)
const data = join(dir, 'data')
const port = await freePort()
const asOwner = { uid: owner?.uid, gid: owner?.gid, env: { ...process.env, LC_ALL: 'C.UTF-8', LANG: 'C.UTF-8' } }

const initdb = spawnSync(
  join(PG_BIN, 'initdb'),
  ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync', '--auth-local=trust', '--auth-host=scram-sha-256'],
  { ...asOwner, encoding: 'utf8', timeout: 120_000 },
)
if (initdb.status !== 0) throw new Error(`initdb failed: ${initdb.stderr || initdb.stdout}`)

let postgresLog = ''
const postgres: ChildProcess = spawn(
  join(PG_BIN, 'postgres'),
  [
    '-D',
    data,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    'fsync=off',
    '-c',
    'max_connections=20',
  ],
  { ...asOwner, stdio: ['ignore', 'pipe', 'pipe'] },
)
postgres.stderr?.on('data', (d: Buffer) => (postgresLog += d.toString()))
postgres.stdout?.on('data', (d: Buffer) => (postgresLog += d.toString()))

t.teardown(async () => {
  if (postgres.exitCode === null) {
    postgres.kill('SIGINT') // fast shutdown
    await once(postgres, 'exit')
  }
  rmSync(dir, { recursive: true, force: true })
  t.comment(`real PostgreSQL interop: ${((Date.now() - started) / 1000).toFixed(1)} s including initdb, start and stop`)
})

/** The superuser over the Unix socket (trust), for setup only. */
async function admin(): Promise<pg.Client> {
  const deadline = Date.now() + 30_000
  for (;;) {
    const client = new pg.Client({ host: dir, port, user: 'postgres', database: 'postgres' })
    try {
      await client.connect()
      return client
    } catch (err) {
      await client.end().catch(() => {})
      if (Date.now() > deadline || postgres.exitCode !== null) throw new Error(`PostgreSQL did not start: ${String(err)}\n${postgresLog}`)
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

const superuser = await admin()
t.teardown(() => superuser.end())
t.comment(`PostgreSQL up after ${((Date.now() - started) / 1000).toFixed(1)} s`)

async function createRole(name: string, password: string, encryption: 'scram-sha-256' | 'md5' = 'scram-sha-256'): Promise<string> {
  await superuser.query(`SET password_encryption = '${encryption}'`)
  await superuser.query(`CREATE ROLE ${superuser.escapeIdentifier(name)} LOGIN PASSWORD ${superuser.escapeLiteral(password)}`)
  const r = await superuser.query<{ rolpassword: string }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [name])
  return r.rows[0]?.rolpassword ?? ''
}

// Passwords that take every SASLprep path: ASCII, NFKC folding, mapping, and the prohibited cases
// where PostgreSQL falls back to the raw bytes.
const PASSWORDS: Array<[string, string]> = [
  ['ascii', 'correct horse battery staple'],
  ['ascii control', 'tab\there'],
  ['full-width', 'ｐａｓｓｗｏｒｄ'],
  ['soft hyphen', 'I\u00adX'],
  ['compatibility', '\u00aa\u2168'],
  ['zero-width space', 'x\u200by'],
  ['emoji (unassigned in 3.2) + full-width', '😀ｆｏｏ'],
  ['bidi valid', '\u0627\u0031\u0628'],
  ['bidi broken + full-width', '\u0627\uff46'],
  ['control + full-width', 'ｆ\u0007'],
  ['only mapped-to-nothing', '\u00ad'],
]
const verifiers = new Map<string, ScramVerifier>()

t.test("PostgreSQL's verifiers parse, format back byte for byte, and equal ours for the same salt", async (t) => {
  for (const [i, [name, password]] of PASSWORDS.entries()) {
    const rolpassword = await createRole(`scram_${i}`, password)
    const parsed = parseScramVerifier(rolpassword)
    if (parsed instanceof ScramVerifierParseError) {
      t.fail(`${name}: ${parsed.message}`)
      continue
    }
    verifiers.set(`scram_${i}`, parsed)
    t.equal(formatScramVerifier(parsed), rolpassword, `${name}: format(parse(v)) = v`)
    const ours = makeScramVerifier(password, { salt: parsed.salt, iterations: parsed.iterations })
    t.equal(formatScramVerifier(ours), rolpassword, `${name}: SASLprep and key derivation agree with PostgreSQL`)
  }
})

t.test("PostgreSQL's md5 hash equals ours", async (t) => {
  t.equal(await createRole('md5_user', 'hunter2', 'md5'), md5PasswordHash('hunter2', 'md5_user'))
})

t.test("Grey's SCRAM server accepts passwords against PostgreSQL's own verifiers", async (t) => {
  for (const [i, [name, password]] of PASSWORDS.entries()) {
    const verifier = verifiers.get(`scram_${i}`)
    if (!verifier) continue
    for (const [attempt, expected] of [
      [password, 'sasl-final'],
      [`${password}x`, 'failed'],
    ] as const) {
      const start = startScramClient({
        password: attempt,
        clientNonce: encodeScramNonce(randomBytes(18)),
        serverMechanisms: ['SCRAM-SHA-256'],
      })
      if (!start.ok) throw new Error(start.failure.message)
      const first = stepScramServer(
        startScramServer({ username: `scram_${i}`, verifier, serverNonce: encodeScramNonce(randomBytes(18)) }),
        {
          type: 'SASLInitialResponse',
          mechanism: start.mechanism,
          data: start.data,
        },
      )
      if (first.output.type !== 'sasl-continue') throw new Error('server-first')
      const cont = continueScramClient(start.state, first.output.data)
      if (!cont.ok) throw new Error(cont.failure.message)
      const final = stepScramServer(first.state, { type: 'SASLResponse', data: cont.data })
      t.equal(final.output.type, expected, `${name}: ${attempt === password ? 'right' : 'wrong'} password`)
      if (final.output.type === 'sasl-final') t.ok(finishScramClient(cont.state, final.output.data).ok)
    }
  }
})

interface BackendMessage {
  name: string
  mechanisms?: string[]
  data?: string
  code?: string
  message?: string
  fields?: unknown[]
}

type RawLogin = { ok: true; currentUser: unknown } | { ok: false; error?: { code?: string; message?: string }; scram?: ScramClientFailure }

/** Grey's backend login: StartupMessage and SASL over a raw socket with pg-protocol's serializer and parser. */
async function rawLogin(user: string, password: string): Promise<RawLogin> {
  const socket = connectTcp(port, '127.0.0.1')
  const parser = new Parser()
  const queue: BackendMessage[] = []
  let wake: (() => void) | undefined
  socket.on('data', (chunk: Buffer) =>
    parser.parse(chunk, (m) => {
      queue.push(m as unknown as BackendMessage)
      wake?.()
    }),
  )
  const next = async (): Promise<BackendMessage> => {
    while (queue.length === 0) {
      if (socket.destroyed) throw new Error('backend closed the connection')
      await new Promise<void>((resolve) => (wake = resolve))
    }
    return queue.shift() as BackendMessage
  }
  try {
    await once(socket, 'connect')
    socket.write(serialize.startup({ user, database: 'postgres' }))
    const sasl = await next()
    if (sasl.name !== 'authenticationSASL') throw new Error(`expected AuthenticationSASL, got ${sasl.name}`)
    const start = startScramClient({ password, clientNonce: encodeScramNonce(randomBytes(18)), serverMechanisms: sasl.mechanisms ?? [] })
    if (!start.ok) return { ok: false, scram: start.failure }
    socket.write(serialize.sendSASLInitialResponseMessage(start.mechanism, start.data.toString('latin1')))
    const serverFirst = await next()
    if (serverFirst.name !== 'authenticationSASLContinue') throw new Error(`expected SASLContinue, got ${serverFirst.name}`)
    const cont = continueScramClient(start.state, Buffer.from(serverFirst.data ?? '', 'latin1'))
    if (!cont.ok) return { ok: false, scram: cont.failure }
    socket.write(serialize.sendSCRAMClientFinalMessage(cont.data.toString('latin1')))
    const serverFinal = await next()
    if (serverFinal.name === 'error') return { ok: false, error: { code: serverFinal.code, message: serverFinal.message } }
    if (serverFinal.name !== 'authenticationSASLFinal') throw new Error(`expected SASLFinal, got ${serverFinal.name}`)
    const finish = finishScramClient(cont.state, Buffer.from(serverFinal.data ?? '', 'latin1'))
    if (!finish.ok) return { ok: false, scram: finish.failure }
    // AuthenticationOk counts only now that the backend has proven it knows the verifier.
    if ((await next()).name !== 'authenticationOk') throw new Error('expected AuthenticationOk')
    while ((await next()).name !== 'readyForQuery');
    socket.write(serialize.query('SELECT current_user'))
    let currentUser: unknown
    for (let m = await next(); m.name !== 'readyForQuery'; m = await next()) if (m.name === 'dataRow') currentUser = m.fields?.[0]
    socket.write(serialize.end())
    return { ok: true, currentUser }
  } finally {
    socket.end()
  }
}

t.test("Grey's SCRAM client logs in to real PostgreSQL over a raw socket", async (t) => {
  for (const [i, [name, password]] of PASSWORDS.entries()) {
    t.same(await rawLogin(`scram_${i}`, password), { ok: true, currentUser: `scram_${i}` }, `${name}: logged in and queried`)
  }
  const wrong = await rawLogin('scram_0', 'correct horse battery stapler')
  t.same(wrong, { ok: false, error: { code: '28P01', message: 'password authentication failed for user "scram_0"' } }, 'wrong password')
  const unknown = await rawLogin('nobody', 'x')
  t.same(
    unknown,
    { ok: false, error: { code: '28P01', message: 'password authentication failed for user "nobody"' } },
    'PostgreSQL: unknown user, same error',
  )
})
