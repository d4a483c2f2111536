import { readFile } from 'node:fs/promises'
import { createTokenManager, ErrorCode, isServiceTokenError, ServiceTokenError } from '../index.js'
import { integer, parse, UsageError } from './args.js'

const help = `Usage: anyweb-service-token token [options]

Prints a fresh AnyWeb ServiceToken on stdout.

Options:
  --appid <id>           application id             (default: $ANYWEB_APPID)
  --secret-file <path>   read the secret from a file (else $ANYWEB_SECRET is used)
  --secret <secret>      the secret itself; visible in the process list, prefer the two above
  --base-url <url>       API base URL (default: $ANYWEB_BASE_URL, else https://api.anyweb.cc)
  --timeout <ms>         time limit of one token request (default: 10000)
  --json                 print {"serviceToken","expiresAt","expiresIn"} instead of the bare token
  -h, --help             show this help

Examples:
  ANYWEB_APPID=my-app ANYWEB_SECRET=… anyweb-service-token token
  anyweb-service-token token --appid demo-app --secret-file ./secret.txt \\
    --base-url http://127.0.0.1:8787 --json

Exit codes: 0 token printed, 1 the token request failed, 2 usage or configuration error.
The secret is never printed.
`

async function readSecret(values: { secret?: string; 'secret-file'?: string }): Promise<string | undefined> {
  if (values.secret !== undefined && values['secret-file'] !== undefined) {
    throw new UsageError('pass either --secret or --secret-file, not both.')
  }
  if (values['secret-file'] !== undefined) {
    try {
      // A trailing newline is what editors and `echo` leave; it is never part of a secret.
      return (await readFile(values['secret-file'], 'utf8')).replace(/\r?\n$/, '')
    } catch (error) {
      throw new UsageError(`cannot read --secret-file: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}.`)
    }
  }
  // An empty variable is an unset one (a common result of `export ANYWEB_SECRET=` in scripts).
  return values.secret ?? (process.env.ANYWEB_SECRET || undefined)
}

/**
 * The manager's error in the words of this command, which makes one request and exits: no cooldown to
 * wait for, and the flag (`--timeout`) where the library names its option.
 */
function forTheCommandLine(error: unknown, timeout: number): unknown {
  if (!isServiceTokenError(error)) return error
  let message = error.message
  if (error.code === ErrorCode.Credentials) {
    const cooldown = message.indexOf('; no new token request is made until the cooldown')
    if (cooldown !== -1) message = `${message.slice(0, cooldown)}.`
  } else if (error.code === ErrorCode.Timeout) {
    message = `The token endpoint did not answer within ${timeout} ms (--timeout ${timeout}), on any of its attempts.`
  }
  return message === error.message ? error : new ServiceTokenError(error.code, message, { cause: error, retryable: error.retryable })
}

/** `anyweb-service-token token`: resolves to the exit code. */
async function token(args: string[]): Promise<number> {
  const values = parse(args, {
    appid: { type: 'string' },
    secret: { type: 'string' },
    'secret-file': { type: 'string' },
    'base-url': { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  })
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  const appid = values.appid ?? (process.env.ANYWEB_APPID || undefined)
  const secret = await readSecret(values)
  if (appid === undefined) throw new UsageError('no appid: set ANYWEB_APPID or pass --appid.')
  if (secret === undefined) throw new UsageError('no secret: set ANYWEB_SECRET or pass --secret-file.')
  const baseUrl = values['base-url'] ?? (process.env.ANYWEB_BASE_URL || undefined)
  const timeout = integer('timeout', values.timeout, 10_000, 1, 600_000)
  const manager = createTokenManager({
    appid,
    secret,
    timeout,
    ...(baseUrl === undefined ? {} : { baseUrl }),
  })
  try {
    const serviceToken = await manager.getToken().catch((error: unknown) => {
      throw forTheCommandLine(error, timeout)
    })
    const { expiresAt } = manager.peek() ?? { expiresAt: Date.now() }
    process.stdout.write(
      values.json
        ? `${JSON.stringify({ serviceToken, expiresAt: new Date(expiresAt).toISOString(), expiresIn: Math.round((expiresAt - Date.now()) / 1000) })}\n`
        : `${serviceToken}\n`,
    )
    return 0
  } finally {
    manager.close()
  }
}

export { token }
