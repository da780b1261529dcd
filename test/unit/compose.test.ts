import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/load-config.js'
import { ROOT } from '../fixtures/test-lab.js'

interface ComposeService {
  build?: { context: string; dockerfile: string }
  environment?: Record<string, string>
}
const compose = parse(readFileSync(join(ROOT, 'compose.yaml'), 'utf8')) as { services: Record<string, ComposeService> }

t.test("compose's Grey gets a valid configuration from the example file plus its environment", async (t) => {
  const grey = compose.services.grey
  t.ok(grey, 'compose has a grey service')
  // ${VAR:-default} is compose interpolation: use the default as compose would when VAR is unset.
  const composeEnv = Object.entries(grey?.environment ?? {}).map(([k, v]) => [k, v.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')])
  const imageEnv = [...readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8').matchAll(/^ENV (\w+)=(\S+)$/gm)].map((m) => [m[1], m[2]])
  const env = Object.fromEntries([...imageEnv, ...composeEnv]) as Record<string, string>
  const config = loadConfig(join(ROOT, 'src', 'config', 'grey.example.yaml'), env)
  t.same(Object.keys(config.cluster.regions), ['us-east'])
  t.equal(config.cluster.regions['us-east']?.databases.postgres?.host, 'postgres')
  t.equal(config.admin.listen, '0.0.0.0:9187', 'the image sets the admin port to listen beyond loopback inside the container')
})

t.test('the files compose and the Dockerfile refer to exist', async (t) => {
  const build = compose.services.grey?.build
  t.ok(build && existsSync(join(ROOT, build.context, build.dockerfile)), 'docker/Dockerfile')
  const dockerfile = readFileSync(join(ROOT, 'docker', 'Dockerfile'), 'utf8')
  for (const m of dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)) t.ok(existsSync(join(ROOT, m[1]!)), `COPY ${m[1]}`)
  t.match(dockerfile, /^USER node$/m, 'runs as a non-root user')
  t.match(dockerfile, /^HEALTHCHECK .*\n.*\/healthz/m, 'health-checks the admin port')
})
