import { readFileSync } from 'node:fs'
import { ConfigurationError, isServiceTokenError } from '../errors.js'
import { UsageError } from './args.js'

const help = `Usage: anyweb-service-token <command> [options]

Commands:
  token      print a fresh ServiceToken (from $ANYWEB_APPID / $ANYWEB_SECRET)
  emulator   run a local AnyWeb service for development and tests
  demo       run the emulator and every adapter live, with a summary
             (demo wechat: WeChat's 40001s between processes, and the cure)

Run \`anyweb-service-token <command> --help\` for a command's options,
\`anyweb-service-token --version\` for the version.

Examples:
  anyweb-service-token emulator --port 8787 --ttl 60
  ANYWEB_APPID=demo-app ANYWEB_SECRET=demo-secret anyweb-service-token token --base-url http://127.0.0.1:8787
  anyweb-service-token demo
  anyweb-service-token emulator --profile wechat
`

type Command = (args: string[]) => Promise<number>

/** The installed package's version: dist/cli.js sits one folder below its package.json. */
function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown }
  return String(manifest.version)
}

const commands: Record<string, () => Promise<Command>> = {
  token: async () => (await import('./token.js')).token,
  emulator: async () => (await import('./emulator.js')).emulator,
  demo: async () => (await import('./demo.js')).demo,
}

/** Runs the CLI with `argv` (without node and the script) and resolves to the exit code. */
async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv
  if (name === '--version' || name === '-v' || name === 'version') {
    process.stdout.write(`${version()}\n`)
    return 0
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help)
    return name === undefined ? 2 : 0
  }
  const load = Object.hasOwn(commands, name) ? commands[name] : undefined
  if (load === undefined) {
    process.stderr.write(`anyweb-service-token: unknown command "${name.slice(0, 40)}".\n\n${help}`)
    return 2
  }
  try {
    return await (await load())(args)
  } catch (error) {
    const prefix = `anyweb-service-token ${name}`
    if (error instanceof UsageError) {
      process.stderr.write(`${prefix}: ${error.message}\nRun \`${prefix} --help\` for usage.\n`)
      return 2
    }
    if (error instanceof ConfigurationError) {
      process.stderr.write(`${prefix}: ${error.code}: ${error.message}\n`)
      return 2
    }
    if (isServiceTokenError(error)) {
      process.stderr.write(`${prefix}: ${error.code}: ${error.message}\n`)
      return 1
    }
    process.stderr.write(`${prefix}: unexpected error: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

export { main }
