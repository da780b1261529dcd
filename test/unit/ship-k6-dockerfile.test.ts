// docker/k6/Dockerfile, the k6 of compose.yaml's k6 profile: hadolint, the pins of loadtest/build-k6.mjs (read from
// it, not repeated here), and a runtime stage whose scripts find what they import.
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { buildContextCopies, dockerIgnorePatterns, dockerInstructions, K6_DOCKERFILE, ROOT } from '../fixtures/ship-files.js'
import { assertHadolintClean } from '../fixtures/ship-tools.js'

/** loadtest/build-k6.mjs's PINS, the versions `npm run loadtest` builds k6 with. */
interface K6Pins {
  xk6: string
  k6: string
  xk6Sql: string
}

const dockerfile = readFileSync(K6_DOCKERFILE, 'utf8')
const instructions = dockerInstructions(dockerfile)
const stages = instructions.filter((line) => line.startsWith('FROM '))
const build = instructions.slice(0, instructions.indexOf(stages.at(-1)!))
const runtime = instructions.slice(instructions.indexOf(stages.at(-1)!))
// The build stage's ARG defaults: the versions the image is built with.
const buildArgs = Object.fromEntries([...build.join('\n').matchAll(/^ARG (\w+)=(\S+)$/gm)].map((m) => [m[1]!, m[2]!]))
const xk6Build = build.find((line) => line.startsWith('RUN xk6 build ')) ?? ''
const LOCAL_MODULES_DIR = join(ROOT, 'loadtest', 'xk6')

t.test('hadolint finds nothing to say about docker/k6/Dockerfile', async (t) => assertHadolintClean(t, dockerfile))

t.test('the image builds k6 with the versions and modules of loadtest/build-k6.mjs', async (t) => {
  const { PINS } = (await import(pathToFileURL(join(ROOT, 'loadtest', 'build-k6.mjs')).href)) as { PINS: K6Pins }
  t.equal(buildArgs.XK6_VERSION, PINS.xk6, `xk6 ${PINS.xk6}`)
  t.equal(buildArgs.K6_VERSION, PINS.k6, `k6 ${PINS.k6}`)
  t.equal(`github.com/grafana/xk6-sql@${buildArgs.XK6_SQL_VERSION}`, PINS.xk6Sql, PINS.xk6Sql)
  t.ok(build.includes('RUN go install "go.k6.io/xk6/cmd/xk6@${XK6_VERSION}"'), 'xk6 is installed at XK6_VERSION')
  t.match(xk6Build, /^RUN xk6 build "\$\{K6_VERSION\}" /, 'k6 is built at K6_VERSION')
  t.match(xk6Build, / --with "github\.com\/grafana\/xk6-sql@\$\{XK6_SQL_VERSION\}" /, 'with xk6-sql at XK6_SQL_VERSION')
  // As build-k6.mjs runs xk6: no extension from k6's registry, and a static binary (the runtime stage is alpine).
  t.ok(build.includes('ENV K6_AUTO_EXTENSION_RESOLUTION=false'), 'automatic extension resolution is off')
  t.ok(build.includes('ENV CGO_ENABLED=0'), 'cgo is off')
  const buildK6 = readFileSync(join(ROOT, 'loadtest', 'build-k6.mjs'), 'utf8')
  t.match(buildK6, /K6_AUTO_EXTENSION_RESOLUTION: 'false', CGO_ENABLED: '0'/, 'so does build-k6.mjs')

  // Every local module (the PostgreSQL driver stand-in, the clock) is copied in and built under its module path.
  t.ok(build.includes('WORKDIR /src') && build.includes('COPY loadtest/xk6 ./xk6'), 'loadtest/xk6 is copied to /src/xk6')
  const localModules = readdirSync(LOCAL_MODULES_DIR)
  t.ok(localModules.length >= 2, 'the driver and the clock')
  for (const dir of localModules) {
    const module = /^module (\S+)$/m.exec(readFileSync(join(LOCAL_MODULES_DIR, dir, 'go.mod'), 'utf8'))?.[1]
    t.ok(xk6Build.includes(` --with ${module}=/src/xk6/${dir}`), `--with ${module}=/src/xk6/${dir}`)
    t.ok(buildK6.includes(`module: '${module}'`), `build-k6.mjs builds ${module} too`)
  }
})

t.test('the runtime stage: pinned, non-root, k6 as entry point, the scripts with what they import', async (t) => {
  for (const from of stages) t.match(from, /^FROM [\w./-]+:\d+(\.\d+)*(-[a-z]+)?( AS \w+)?$/, `${from}: a pinned tag`)
  t.match(runtime.filter((line) => line.startsWith('USER ')).at(-1), /^USER [1-9]\d*(:[1-9]\d*)?$/, 'runs as a numeric non-root user')
  t.ok(runtime.includes('COPY --from=build /usr/local/bin/k6 /usr/bin/k6'), 'the k6 the build stage made')
  t.ok(runtime.includes('ENV K6_AUTO_EXTENSION_RESOLUTION=false'), 'k6 runs with the extensions it was built with')
  t.ok(runtime.includes('ENTRYPOINT ["k6"]'), 'k6 is the entry point')
  t.ok(runtime.includes('WORKDIR /loadtest'), 'scripts run from /loadtest, as in compose.yaml')
  const script = /^CMD \["run", "([^"]+)"\]$/m.exec(runtime.join('\n'))?.[1]
  t.equal(script, 'k6/mix.js', 'runs the mix by default')

  // /loadtest in the image holds loadtest/'s files at their own relative paths, so relative imports resolve.
  const copied: string[] = []
  for (const line of runtime.filter((l) => /^COPY (?!--from)/.test(l))) {
    const [, source, target] = /^COPY (\S+) (\S+)$/.exec(line) ?? []
    t.ok(source?.startsWith('loadtest/'), `${line}: from loadtest/`)
    const expected = `/${source}`
    t.ok(target === expected || target === `${expected.slice(0, expected.lastIndexOf('/'))}/`, `${line}: keeps its path`)
    copied.push(join(ROOT, source!))
  }
  const isCopied = (file: string) => copied.some((c) => file === c || file.startsWith(`${c}/`))
  t.ok(isCopied(join(ROOT, 'loadtest', script!)), `${script} is in the image`)
  const scriptsDir = join(ROOT, 'loadtest', 'k6')
  for (const name of readdirSync(scriptsDir).filter((n) => n.endsWith('.js'))) {
    for (const [, spec] of readFileSync(join(scriptsDir, name), 'utf8').matchAll(/^import .* from '(\.[^']+)'$/gm)) {
      const file = resolve(scriptsDir, spec!)
      t.ok(existsSync(file) && isCopied(file), `k6/${name} imports ${relative(ROOT, file)}, which the image has`)
    }
  }

  const ignored = dockerIgnorePatterns()
  for (const source of buildContextCopies(dockerfile)) {
    t.ok(existsSync(join(ROOT, source)), `COPY ${source} exists`)
    t.notOk(
      ignored.some((pattern) => source === pattern || source.startsWith(`${pattern}/`)),
      `COPY ${source} is in the build context`,
    )
  }
})
