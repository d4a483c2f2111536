import { main } from './index.js'

// Exit through exitCode, not process.exit(), so buffered output to a pipe is flushed.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    process.stderr.write(`anyweb-service-token: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exitCode = 1
  },
)
