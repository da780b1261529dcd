#!/usr/bin/env node
// pgbench through Grey vs a direct connection vs pgbouncer, measured in the same run, against the
// lab's us-east primary (the us-east Grey has no local standby, so all three reach the same server).
// Needs `npm run lab` (or `grey lab up --without cassandra`) first. Prints TPS and ratios.
// Usage: node bench/pg-proxy-bench.mjs [seconds=10] [clients=8]
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const seconds = Number(process.argv[2] ?? 10)
const clients = Number(process.argv[3] ?? 8)
const lab = JSON.parse(readFileSync(join(process.cwd(), '.lab', 'lab.json'), 'utf8'))
const region = lab.regions['us-east']
const [host, directPort] = region.pg.direct.split(':')
const greyPort = region.grey.pg.split(':')[1]
const bouncerPort = String(Number(directPort) + 98)
const env = { ...process.env, PGPASSWORD: lab.pg.password }

// pgbouncer in transaction mode with SCRAM toward the client and the server, like Grey.
const dir = mkdtempSync(join(tmpdir(), 'grey-bench-pgbouncer-'))
writeFileSync(join(dir, 'userlist.txt'), `"${lab.pg.user}" "${lab.pg.password}"\n`)
writeFileSync(
  join(dir, 'pgbouncer.ini'),
  `[databases]\n${lab.pg.database} = host=${host} port=${directPort} dbname=${lab.pg.database}\n[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = ${bouncerPort}\nauth_type = scram-sha-256\nauth_file = ${join(dir, 'userlist.txt')}\npool_mode = transaction\nmax_client_conn = 200\ndefault_pool_size = 20\nlogfile = ${join(dir, 'pgbouncer.log')}\npidfile = ${join(dir, 'pgbouncer.pid')}\nunix_socket_dir =\n`,
)
// pgbouncer will not run as root either.
const ini = join(dir, 'pgbouncer.ini')
let bouncer
if (process.getuid?.() === 0) {
  spawnSync('chown', ['-R', 'postgres', dir])
  bouncer = spawn('runuser', ['-u', 'postgres', '--', '/usr/sbin/pgbouncer', ini], { stdio: 'ignore' })
} else {
  bouncer = spawn('/usr/sbin/pgbouncer', [ini], { stdio: 'ignore' })
}
await new Promise((r) => setTimeout(r, 1000))

function pgbench(port, args) {
  const r = spawnSync('pgbench', ['-h', host, '-p', port, '-U', lab.pg.user, ...args, lab.pg.database], { encoding: 'utf8', env })
  if (r.status !== 0) throw new Error(`pgbench ${args.join(' ')} on ${port} failed: ${r.stderr}`)
  return r.stdout
}

try {
  pgbench(directPort, ['-i', '-s', '1', '-q'])
  const rows = []
  for (const mode of ['simple', 'extended']) {
    for (const [name, port] of [
      ['direct', directPort],
      ['grey', greyPort],
      ['pgbouncer', bouncerPort],
    ]) {
      const out = pgbench(port, ['-S', '-M', mode, '-c', String(clients), '-j', '2', '-T', String(seconds)])
      const tps = Number(/tps = ([\d.]+) \(without initial connection time\)/.exec(out)?.[1])
      const latencyMs = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1])
      rows.push({ mode, name, tps, latencyMs })
    }
  }
  console.log(`pgbench -S (select only), ${clients} clients, ${seconds} s each, scale 1, us-east primary on loopback`)
  console.log('mode      target      tps        avg ms   vs direct   vs pgbouncer')
  for (const r of rows) {
    const direct = rows.find((d) => d.mode === r.mode && d.name === 'direct').tps
    const bouncer = rows.find((d) => d.mode === r.mode && d.name === 'pgbouncer').tps
    console.log(
      `${r.mode.padEnd(10)}${r.name.padEnd(12)}${r.tps.toFixed(0).padStart(8)}   ${r.latencyMs.toFixed(3).padStart(7)}   ${(r.tps / direct).toFixed(2).padStart(9)}   ${(r.tps / bouncer).toFixed(2).padStart(12)}`,
    )
  }
} finally {
  bouncer.kill('SIGTERM')
}
