import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { hostPort } from '../../src/config/host-port.js'
import { loadConfig } from '../../src/config/load-config.js'
import { buildContextCopies, DOCKERFILE, dockerfileEnv, dockerIgnorePatterns, dockerInstructions, ROOT } from '../fixtures/ship-files.js'
import { assertHadolintClean, HADOLINT, hadolint, requireTool, runTool } from '../fixtures/ship-tools.js'

const dockerfile = readFileSync(DOCKERFILE, 'utf8')
const instructions = dockerInstructions(dockerfile)
const stages = instructions.filter((line) => line.startsWith('FROM '))
const runtime = instructions.slice(instructions.lastIndexOf(stages.at(-1)!))
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }

t.test('hadolint finds nothing to say about docker/Dockerfile', async (t) => assertHadolintClean(t, dockerfile))

t.test('the lint would catch a bad Dockerfile', async (t) => {
  if (!requireTool(t, HADOLINT)) return
  const { status, findings } = hadolint('FROM node\nRUN apt-get update && apt-get install -y tini\nUSER root\n')
  t.not(status, 0, 'hadolint exits non-zero')
  t.same(
    findings.map((f) => f.code).sort(),
    ['DL3002', 'DL3006', 'DL3008', 'DL3009', 'DL3015', 'DL3066'],
    'root user, untagged image, unpinned and unrecommended apt packages, no list cleanup, non-numeric user',
  )
})

t.test('the image: multi-stage on node slim, non-root, tini as PID 1, health check on the admin port', async (t) => {
  t.ok(stages.length >= 2, 'a build stage and a runtime stage')
  t.match(stages.at(-1), /^FROM node:\d+-[a-z]+-slim$/, 'the runtime stage is a slim node image')
  const user = runtime.filter((line) => line.startsWith('USER ')).at(-1)
  t.match(user, /^USER [1-9]\d*(:[1-9]\d*)?$/, 'runs as a numeric non-root user, so runAsNonRoot can check it')
  t.match(
    runtime.find((line) => line.startsWith('ENTRYPOINT ')),
    /^ENTRYPOINT \["\/usr\/bin\/tini", "--", "node", "\/opt\/grey\/dist\/cli\/grey\.js"\]$/,
    'tini forwards SIGTERM to node, which drains',
  )
  t.match(runtime.join('\n'), /apt-get install [^\n]*\btini=/, 'tini is installed in the runtime stage')
  t.match(
    runtime.find((line) => line.startsWith('CMD ')),
    /"proxy", "--config", "\/etc\/grey\/grey\.yaml"/,
    'runs the proxy with the config file',
  )
  const health = runtime.find((line) => line.startsWith('HEALTHCHECK '))
  const adminPort = hostPort(dockerfileEnv().GREY_ADMIN__LISTEN ?? '').port
  t.match(health, new RegExp(`http://127\\.0\\.0\\.1:${adminPort}/healthz`), `HEALTHCHECK asks /healthz on the admin port (${adminPort})`)
  t.match(
    runtime.find((line) => line.startsWith('EXPOSE ')),
    new RegExp(`\\b${adminPort}\\b`),
    'the admin port is exposed',
  )
})

t.test('the image runs the build artefact: dist/ from `npm run build`, copied where ENTRYPOINT looks', async (t) => {
  // ENTRYPOINT's /opt/grey/dist/cli/grey.js = WORKDIR /opt/grey + COPY --from=build /src/dist ./dist, built by tsc there.
  t.ok(instructions.includes('WORKDIR /opt/grey'), 'WORKDIR /opt/grey')
  t.ok(instructions.includes('COPY --from=build /src/dist ./dist'), 'dist/ comes from the build stage')
  t.match(dockerfile, /RUN npx tsc -p tsconfig\.build\.json/, 'the build stage runs the same build as `npm run build`')
  t.match(readFileSync(join(ROOT, 'package.json'), 'utf8'), /"build": "tsc -p tsconfig\.build\.json"/, 'npm run build is that build')
  // test/run.mjs builds dist/ before the tests. The entry point and every command module it loads on demand
  // (proxy, cluster, lab) must load with their whole import graph, as the image's node would.
  const entry = join(ROOT, 'dist', 'cli', 'grey.js')
  const commands = [...readFileSync(entry, 'utf8').matchAll(/await import\('(\.[^']+)'\)/g)].map(
    (m) => new URL(m[1]!, pathToFileURL(entry)).href,
  )
  t.ok(
    commands.some((url) => url.endsWith('/dist/cli/proxy-command.js')),
    'grey.js loads the proxy command',
  )
  const load = runTool(process.execPath, ['--input-type=module', '-e', `for (const url of ${JSON.stringify(commands)}) await import(url)`])
  t.equal(load.status, 0, `dist/ loads every command module (run \`npm run build\` if not) ${load.stderr}`)
  const version = runTool(process.execPath, [join(ROOT, 'dist', 'cli', 'grey.js'), 'version'])
  t.equal(version.stdout.trim(), pkg.version, `node dist/cli/grey.js version prints ${pkg.version} ${version.stderr}`)
  // .dockerignore keeps node_modules and the rest out of the build context, but nothing the build copies.
  const ignored = dockerIgnorePatterns()
  t.ok(ignored.includes('node_modules') && ignored.includes('dist'), '.dockerignore leaves out node_modules and dist')
  for (const source of buildContextCopies(dockerfile)) {
    t.ok(existsSync(join(ROOT, source)), `COPY ${source} exists`)
    t.notOk(
      ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
      `COPY ${source} is in the build context`,
    )
  }
})

t.test("the image's default config loads with the image's environment", async (t) => {
  const source = /^COPY (\S+) \/etc\/grey\/grey\.yaml$/m.exec(dockerfile)?.[1]
  t.equal(source, 'src/config/grey.example.yaml', 'the example config is the default /etc/grey/grey.yaml')
  const config = loadConfig(join(ROOT, source!), dockerfileEnv())
  t.equal(config.admin.listen, '0.0.0.0:9187', 'the admin port listens beyond loopback inside the container')
})
