import { parseArgs } from 'node:util'
import type { ParseArgsConfig } from 'node:util'

/** A usage mistake: printed with the command's help hint, exit code 2. */
class UsageError extends Error {
  override name = 'UsageError'
}

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * Parses a sub-command's flags. Messages never repeat a value the user typed: a secret passed in the
 * wrong place must not end up in a terminal log.
 */
function parse<T extends Options>(args: string[], options: T) {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false })
      .values
  } catch (error) {
    const code = (error as { code?: string }).code
    const message = (error as Error).message
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError('this command takes no positional arguments.')
    // Node names only the option in these two (never its value).
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(`${message.replace(/\. To specify a positional.*$/s, '')}.`)
    }
    throw new UsageError('could not read the command line.')
  }
}

/** A whole number from a flag, within bounds. */
function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  const parsed = Number(value)
  if (!/^\d+$/.test(value) || parsed < min || parsed > max) {
    throw new UsageError(`--${name} expects a whole number from ${min} to ${max}.`)
  }
  return parsed
}

/** A `<name>:<value>` flag value (`--app <appid>:<secret>`), split at its first colon. */
function pairs(flag: string, form: string, values: string[] | undefined): [string, string][] {
  return (values ?? []).map((value) => {
    const at = value.indexOf(':')
    if (at <= 0 || at === value.length - 1) throw new UsageError(`--${flag} expects ${form}.`)
    return [value.slice(0, at), value.slice(at + 1)]
  })
}

export { integer, pairs, parse, UsageError }
