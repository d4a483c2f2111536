import { createEmulator } from '../emulator/index.js'
import type { EmulatorOptions, RequestLogEntry } from '../emulator/index.js'
import { integer, pairs, parse, UsageError } from './args.js'

const help = `Usage: anyweb-service-token emulator [options]

Runs a local AnyWeb service (token endpoint and /service/checkAddresses) and prints a line per request.
Point your code at it with baseUrl, e.g. createTokenManager({ appid, secret, baseUrl: 'http://127.0.0.1:8787' }).

Options:
  --profile <name>              anyweb | wechat | wechatStable | wecom | feishu | dingtalk (default: anyweb)
  --port <n>                    port to listen on; 0 picks a free one (default: 8787)
  --host <address>              address to bind (default: 127.0.0.1)
  --ttl <seconds>               lifetime of issued tokens (default: 7200)
  --app <appid:secret>          a registered application; repeat for more (default: demo-app:demo-secret)
  --user <unionid:addr,addr>    addresses a user owns, for checkAddresses; repeatable
  --reissue <policy>            stateless | extend | invalidate-previous[:graceMs] | reuse[:renewWithinMs]
                                (default: the profile's, e.g. invalidate-previous:300000 for wechat)
  --error-status <status>       HTTP status of A108… error answers (default: 200, as AnyWeb)
  --quiet                       no line per request
  -h, --help                    show this help

Examples:
  anyweb-service-token emulator
  anyweb-service-token emulator --port 0 --ttl 30 --app my-app:my-secret --reissue invalidate-previous:300000

Counters: GET <url>/__emulator/stats. Stop with Ctrl-C.
`

function reissue(value: string | undefined): EmulatorOptions['reissue'] {
  if (value === undefined) return undefined
  if (value === 'stateless' || value === 'extend') return value
  const match = /^(invalidate-previous|reuse)(?::(\d+))?$/.exec(value)
  if (match === null) throw new UsageError('--reissue expects stateless, extend, invalidate-previous[:graceMs] or reuse[:renewWithinMs].')
  const ms = Number(match[2] ?? 0)
  return match[1] === 'reuse' ? { policy: 'reuse', renewWithinMs: ms } : { policy: 'invalidate-previous', graceMs: ms }
}

const PROFILES = ['anyweb', 'wechat', 'wechatStable', 'wecom', 'feishu', 'dingtalk'] as const

function profile(value: string | undefined): NonNullable<EmulatorOptions['profile']> {
  if (value === undefined) return 'anyweb'
  const found = PROFILES.find((name) => name === value)
  if (found === undefined) throw new UsageError(`--profile expects one of ${PROFILES.join(', ')}.`)
  return found
}

function logLine({ method, path, status, code, durationMs }: RequestLogEntry): string {
  const time = new Date().toISOString().slice(11, 23)
  const outcome = status === 0 ? 'connection broken' : `${status}${code === undefined ? '' : ` code=${code}`}`
  return `${time} ${method} ${path} ${outcome} ${durationMs.toFixed(1)}ms\n`
}

/** `anyweb-service-token emulator`: serves until SIGINT/SIGTERM, then resolves to 0. */
async function emulator(args: string[]): Promise<number> {
  const values = parse(args, {
    profile: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    ttl: { type: 'string' },
    app: { type: 'string', multiple: true },
    user: { type: 'string', multiple: true },
    reissue: { type: 'string' },
    'error-status': { type: 'string' },
    quiet: { type: 'boolean' },
  })
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  const apps = values.app === undefined ? undefined : Object.fromEntries(pairs('app', '<appid>:<secret>', values.app))
  const users = Object.fromEntries(pairs('user', '<unionid>:<addr,addr>', values.user).map(([unionid, list]) => [unionid, list.split(',')]))
  const playing = profile(values.profile)
  const policy = reissue(values.reissue)
  const emu = createEmulator({
    profile: playing,
    tokenTtl: integer('ttl', values.ttl, 7200, 1, 366 * 24 * 3600),
    ...(policy === undefined ? {} : { reissue: policy }),
    // Only when given: both are AnyWeb's, and the emulator refuses them for another profile.
    ...(values['error-status'] === undefined ? {} : { errorStatus: integer('error-status', values['error-status'], 200, 200, 599) }),
    ...(values.user === undefined ? {} : { users }),
    ...(apps === undefined ? {} : { apps }),
    ...(values.quiet ? {} : { onRequest: (entry: RequestLogEntry) => process.stdout.write(logLine(entry)) }),
  })
  const port = integer('port', values.port, 8787, 0, 65_535)
  const server = await emu.listen({ port, hostname: values.host ?? '127.0.0.1' }).catch((error: unknown) => {
    if ((error as { code?: unknown } | null)?.code !== 'EADDRINUSE') throw error
    throw new UsageError(`port ${port} is already in use: pass --port 0 to pick a free one, or another --port.`)
  })
  const appids = Object.keys(apps ?? { 'demo-app': '' })
  process.stdout.write(`${playing === 'anyweb' ? 'AnyWeb' : playing} emulator listening on ${server.url}\napps: ${appids.join(', ')}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await server.close()
  process.stdout.write('emulator stopped\n')
  return 0
}

export { emulator }
