import { parse, UsageError } from './args.js'

const help = `Usage: anyweb-service-token demo

Runs the emulator and every adapter live, with a summary (arrives with the adapters).

Examples:
  npm run demo
`

/** `anyweb-service-token demo`: arrives with the adapters. */
async function demo(args: string[]): Promise<number> {
  if (parse(args, {}).help) {
    process.stdout.write(help)
    return 0
  }
  throw new UsageError('the demo arrives with the adapters; they are not built yet.')
}

export { demo }
