import t from 'tap'
import { cassandraHandshakeSender } from '../../src/lab/wan/cassandra-handshake-sender.js'

// First bytes of real internode connections, captured from the lab's Cassandra 5.0.9 nodes.
const cases: Array<[string, string, string | null]> = [
  ['from 127.21.2.2:7000', 'ca552dfa0d0c0c05067f1502021b58aabbccdd', '127.21.2.2'],
  ['from 127.20.2.1:7000', 'ca552dfa0d0c0c05067f1402011b58', '127.20.2.1'],
  ['too short to tell', 'ca552dfa0d0c0c05067f1502', null],
  ['another protocol', '000000080000000000000000000000', null],
  ['an IPv6 sender (length 18)', 'ca552dfa0d0c0c0512000000000000000000', null],
]
for (const [name, hex, want] of cases) {
  t.equal(cassandraHandshakeSender(Buffer.from(hex, 'hex')), want, name)
}
