import { createEmulator } from '../emulator/index.js'
import type { EmulatorOptions, RequestLogEntry } from '../emulator/index.js'
import { integer, pairs, parse, UsageError } from './args.js'

const help = `Usage: anyweb-service-token emulator [options]

Runs a local AnyWeb service (token endpoint and /service/checkAddresses) and prints a line per request.
Point your code at it with baseUrl, e.g. createTokenManager({ appid, secret, baseUrl: 'http://127.0.0.1:8787' }).

Options:
  --port <n>                    port to listen on; 0 picks a free one (default: 8787)
  --host <address>              address to bind (default: 127.0.0.1)
  --ttl <seconds>               lifetime of issued tokens (default: 7200)
  --app <appid:secret>          a registered application; repeat for more (default: demo-app:demo-secret)
  --user <unionid:addr,addr>    addresses a user owns, for checkAddresses; repeatable
  --reissue <policy>            stateless | invalidate-previous[:graceMs] (default: stateless)
  --error-status <status>       HTTP status of A108… error answers (default: 200, as AnyWeb)
  --quiet                       no line per request
  -h, --help                    show this help

Examples:
  anyweb-service-token emulator
  anyweb-service-token emulator --port 0 --ttl 30 --app my-app:my-secret --reissue invalidate-previous:300000

Counters: GET <url>/__emulator/stats. Stop with Ctrl-C.
`

function reissue(value: string | undefined): NonNullable<EmulatorOptions['reissue']> {
  if (value === undefined || value === 'stateless') return 'stateless'
  const match = /^invalidate-previous(?::(\d+))?$/.exec(value)
  if (match === null) throw new UsageError('--reissue expects stateless or invalidate-previous[:graceMs].')
  return { policy: 'invalidate-previous', graceMs: Number(match[1] ?? 0) }
}

function logLine({ method, path, status, code, durationMs }: RequestLogEntry): string {
  const time = new Date().toISOString().slice(11, 23)
  const outcome = status === 0 ? 'connection broken' : `${status}${code === undefined ? '' : ` code=${code}`}`
  return `${time} ${method} ${path} ${outcome} ${durationMs.toFixed(1)}ms\n`
}

/** `anyweb-service-token emulator`: serves until SIGINT/SIGTERM, then resolves to 0. */
async function emulator(args: string[]): Promise<number> {
  const values = parse(args, {
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
  const emu = createEmulator({
    tokenTtl: integer('ttl', values.ttl, 7200, 1, 366 * 24 * 3600),
    reissue: reissue(values.reissue),
    errorStatus: integer('error-status', values['error-status'], 200, 200, 599),
    users,
    ...(apps === undefined ? {} : { apps }),
    ...(values.quiet ? {} : { onRequest: (entry: RequestLogEntry) => process.stdout.write(logLine(entry)) }),
  })
  const port = integer('port', values.port, 8787, 0, 65_535)
  const server = await emu.listen({ port, hostname: values.host ?? '127.0.0.1' }).catch((error: unknown) => {
    if ((error as { code?: unknown } | null)?.code !== 'EADDRINUSE') throw error
    throw new UsageError(`port ${port} is already in use: pass --port 0 to pick a free one, or another --port.`)
  })
  const appids = Object.keys(apps ?? { 'demo-app': '' })
  process.stdout.write(`AnyWeb emulator listening on ${server.url}\napps: ${appids.join(', ')}\n`)
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await server.close()
  process.stdout.write('emulator stopped\n')
  return 0
}

export { emulator }
