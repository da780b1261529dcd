// Single-server membership changes: their five-byte encoding and which changes make sense for a membership.
import t from 'tap'
import {
  applyConfChange,
  assertNodeId,
  confChangeProblem,
  decodeConfChange,
  encodeConfChange,
  normalizeConfig,
  type ConfChange,
} from '../../src/consensus/conf-change.js'

t.test('membership changes encode to five bytes and refuse what makes no sense', (t) => {
  for (const kind of ['add-voter', 'add-learner', 'promote-learner', 'remove-node'] as const) {
    const change: ConfChange = { kind, nodeId: 0xfffffffe }
    t.same(decodeConfChange(encodeConfChange(change)), change, kind)
  }
  t.throws(() => decodeConfChange(new Uint8Array(4)), /malformed conf-change entry \(4 bytes\)/)
  t.throws(() => decodeConfChange(Uint8Array.of(9, 0, 0, 0, 1)), /malformed/)
  t.throws(() => decodeConfChange(Uint8Array.of(0, 0, 0, 0, 0)), /node ids/)
  t.throws(() => encodeConfChange({ kind: 'add-voter', nodeId: 1.5 }), /node ids/)
  t.throws(() => assertNodeId(2 ** 32), /node ids/)
  // Bytes inside a larger buffer decode from their own offset.
  const framed = new Uint8Array(8)
  framed.set(encodeConfChange({ kind: 'add-learner', nodeId: 7 }), 3)
  t.same(decodeConfChange(framed.subarray(3)), { kind: 'add-learner', nodeId: 7 })

  const current = { voters: [1, 2], learners: [3] }
  t.equal(confChangeProblem(current, { kind: 'add-voter', nodeId: 2 }), 'node 2 is already a voter')
  t.equal(confChangeProblem(current, { kind: 'add-learner', nodeId: 3 }), 'node 3 is already a learner')
  t.equal(confChangeProblem(current, { kind: 'promote-learner', nodeId: 1 }), 'node 1 is not a learner')
  t.equal(confChangeProblem(current, { kind: 'remove-node', nodeId: 9 }), 'node 9 is not a member')
  t.equal(confChangeProblem({ voters: [1], learners: [] }, { kind: 'remove-node', nodeId: 1 }), 'node 1 is the last voter')
  t.equal(applyConfChange(current, { kind: 'remove-node', nodeId: 9 }), current, 'an invalid change changes nothing')
  t.same(applyConfChange(current, { kind: 'promote-learner', nodeId: 3 }), { voters: [1, 2, 3], learners: [] })
  t.same(applyConfChange(current, { kind: 'remove-node', nodeId: 3 }), { voters: [1, 2], learners: [] })
  t.same(applyConfChange(current, { kind: 'add-voter', nodeId: 0 + 4 }), { voters: [1, 2, 4], learners: [3] })
  t.same(normalizeConfig({ voters: [3, 1, 3], learners: [2, 1] }), { voters: [1, 3], learners: [2] })
  t.end()
})
