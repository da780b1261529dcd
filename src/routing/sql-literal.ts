/** A SQL string literal: `value` in single quotes, each quote doubled (standard_conforming_strings on, as since 9.1). */
export function sqlLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`
}
