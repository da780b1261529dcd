#!/usr/bin/env node
// The test command: check formatting, type-check everything, build dist/ (the lab and integration tests run the
// built `grey`), run tap, tear the test lab down, and end with the line CI reads:
// `N passed, N failed` — counted from tap's per-file TAP results, one per top-level test.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Parser } from 'tap-parser'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const step = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', cwd: root }).status ?? 1

let failedSteps = 0
for (const [cmd, args] of [
  [bin('prettier'), ['--check', '--log-level', 'warn', 'src/**/*.{ts,mjs}', 'test/**/*.{ts,mjs}']],
  [bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']],
  [bin('tsc'), ['-p', 'tsconfig.build.json']],
]) {
  if (step(cmd, args) !== 0) {
    process.stdout.write(`\nstep failed: ${cmd} ${args.join(' ')}\n`)
    failedSteps++
  }
}

const resultsDir = join(root, '.tap', 'test-results')
const testLab = join(root, '.lab-test')
const labDown = () => {
  if (existsSync(join(testLab, 'state.json')))
    step(process.execPath, [join(root, 'dist', 'cli', 'grey.js'), 'lab', 'down', '--dir', testLab])
}
// The integration tests share one lab in .lab-test, made fresh for every run and stopped after it.
labDown()
rmSync(testLab, { recursive: true, force: true })
rmSync(resultsDir, { recursive: true, force: true })
const tapStatus = failedSteps === 0 ? step(bin('tap'), process.argv.slice(2)) : 1
labDown()

function tapFiles(dir) {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? tapFiles(path) : path.endsWith('.tap') ? [path] : []
  })
}

// The failing assertions of a file, innermost first, each with its subtest path and what tap said about it — so the
// tail of a CI log names what failed without scrolling back through the whole run.
function watchFailures(parser, path, failures) {
  parser.on('child', (child) => watchFailures(child, [...path, child.name], failures))
  parser.on('assert', (res) => {
    if (res.ok || res.skip || res.todo) return
    const at = [...path, res.name]
    // A subtest that failed because one of its assertions did adds nothing to that assertion's line.
    if (failures.some((f) => at.every((part, i) => f.at[i] === part))) return
    failures.push({ at, diag: res.diag })
  })
}

function describeDiag(diag) {
  if (!diag) return ''
  const { found, wanted, diff, message, at, stack } = diag
  const where = at?.fileName ? `${at.fileName}:${at.lineNumber}` : undefined
  const text = JSON.stringify({ where, message, found, wanted, diff, stack: where ? undefined : stack })
  return text.length > 800 ? `${text.slice(0, 800)}…` : text
}

function countFile(path) {
  return new Promise((resolveCount) => {
    const counts = { pass: 0, fail: 0, skip: 0, failures: [] }
    const parser = new Parser((final) => {
      if (!final.ok && counts.fail === 0) counts.fail = 1
      resolveCount(counts)
    })
    // Depth-1 results: each top-level t.test() or assertion of the file is one test.
    parser.on('assert', (res) => {
      if (res.skip || res.todo) counts.skip++
      else if (res.ok) counts.pass++
      else counts.fail++
    })
    watchFailures(parser, [], counts.failures)
    parser.end(readFileSync(path))
  })
}

let pass = 0
let fail = failedSteps
let skip = 0
const failures = []
for (const file of tapFiles(resultsDir)) {
  const c = await countFile(file)
  pass += c.pass
  fail += c.fail
  skip += c.skip
  for (const f of c.failures) failures.push(`${file.slice(resultsDir.length + 1)}: ${f.at.join(' > ')} ${describeDiag(f.diag)}`)
}
if (failures.length > 0) process.stdout.write(`\nfailed:\n${failures.map((f) => `  ${f}`).join('\n')}\n`)
// tap failing without a failed test (coverage below threshold, a crashed file) is still a failure.
if (tapStatus !== 0 && fail === 0) fail = 1
process.stdout.write(`\n${pass} passed, ${fail} failed${skip ? `, ${skip} skipped` : ''}\n`)
process.exit(fail === 0 && tapStatus === 0 ? 0 : 1)
