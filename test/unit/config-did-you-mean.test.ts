import t from 'tap'
import { didYouMean } from '../../src/config/did-you-mean.js'

const keys = ['election_timeout', 'heartbeat_interval', 'node_id', 'listen', 'peers', 'secret']
const cases: [word: string, candidates: readonly string[], suggestion: string | undefined][] = [
  ['electon_timeout', keys, 'election_timeout'],
  ['election-timeout', keys, 'election_timeout'], // dash for underscore costs nothing
  ['ELECTION_TIMEOUT', keys, 'election_timeout'],
  ['hearbeat', keys, undefined], // too far from heartbeat_interval
  ['peer', keys, 'peers'],
  ['lisen', keys, 'listen'],
  ['colour', keys, undefined],
  ['eu_west', ['us-east', 'eu-west', 'ap-south'], 'eu-west'],
  ['eu-wset', ['us-east', 'eu-west', 'ap-south'], 'eu-west'],
  ['anything', [], undefined],
]

for (const [word, candidates, suggestion] of cases) {
  t.equal(didYouMean(word, candidates), suggestion, `${word} → ${suggestion}`)
}

t.equal(didYouMean('ab', ['ac', 'ab']), 'ab', 'an exact match beats an earlier near match')
