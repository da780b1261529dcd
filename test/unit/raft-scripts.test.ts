// Raft scenarios as plain-text scripts (test/unit/raft-scripts/*.txt), in the spirit of etcd-io/raft's testdata:
// each command is followed by `----` and the exact output it must produce. The format is described in
// test/fixtures/raft/raft-script.ts. After a deliberate behaviour change, regenerate the expected outputs with
//   GREY_RAFT_SCRIPTS_REWRITE=1 npx tap test/unit/raft-scripts.test.ts
// and review the diff like code.
import t from 'tap'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RaftScript, formatScript, parseScript } from '../fixtures/raft/raft-script.js'

const dir = join(import.meta.dirname, 'raft-scripts')
const rewrite = process.env.GREY_RAFT_SCRIPTS_REWRITE === '1'

for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.txt'))
  .sort()) {
  t.test(file, (t) => {
    const path = join(dir, file)
    const blocks = parseScript(readFileSync(path, 'utf8'))
    const script = new RaftScript()
    const outputs = blocks.map((block) => {
      const actual = script.run(block.command)
      if (!rewrite) t.equal(actual, block.expected, `${file}:${block.line} ${block.command}`)
      return actual
    })
    if (rewrite) writeFileSync(path, formatScript(blocks, outputs))
    t.end()
  })
}
