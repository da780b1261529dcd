import type { z } from 'zod'

const TYPE_PHRASES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
}

function bound(issue: { origin: string; inclusive?: boolean }, limit: number | bigint, side: 'least' | 'most'): string {
  switch (issue.origin) {
    case 'string':
      return side === 'least' && limit === 1 ? 'a non-empty string' : `a string of at ${side} ${limit} characters`
    case 'array':
      return side === 'least' && limit === 1 ? 'a non-empty list' : `a list of at ${side} ${limit} entries`
    default:
      if (issue.inclusive === false) return `a number ${side === 'least' ? 'greater' : 'less'} than ${limit}`
      return `a number of at ${side} ${limit}`
  }
}

/**
 * Zod error map whose messages are the "expected …" half of a config problem (the loader adds
 * the key path and what was found). Schema-level messages in config-schema.ts follow the same
 * convention. For unrecognized keys the message is the object's known keys joined by " | ",
 * which the loader turns into one "did you mean" problem per unknown key.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return TYPE_PHRASES[issue.expected] ?? `a value of type ${issue.expected}`
    case 'invalid_value':
      return `one of ${issue.values.map(String).join(' | ')}`
    case 'too_small':
      return bound(issue, issue.minimum, 'least')
    case 'too_big':
      return bound(issue, issue.maximum, 'most')
    case 'unrecognized_keys':
      // Only objects raise unrecognized_keys.
      return Object.keys((issue.inst as z.ZodObject).shape).join(' | ')
    case 'invalid_key':
      return issue.issues.map((inner) => inner.message).join('; ')
    default:
      return undefined
  }
}
