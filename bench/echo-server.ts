/**
 * The minimal API server of the hot-path benchmark, run in its own process so that the client process
 * measures the client only: reads each request and answers a fixed AnyWeb JSON, keep-alive, framed as
 * the request's `answer` query parameter asks (bench/answers.ts; none: the small JSON with a
 * content-length; an unknown one: 400). Prints its port on stdout.
 *
 * HTTP/1.1 by hand on a TCP socket, not node:http: the benchmark measures the client, so the server
 * must never be what limits the rate. node:http's own work per request is about that of the client's,
 * and how fast it ran in a given run (what its engine made of it) decided how much of the client's
 * cost showed. This server answers in a few µs, so the client is the bottleneck in every run. It
 * understands what the benchmark's clients send: requests framed by `content-length` or
 * `transfer-encoding: chunked`, pipelined or not.
 */
import { createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'
import { FRAMINGS } from './answers.js'
import type { Framing } from './answers.js'

const UNKNOWN = Buffer.from('HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n', 'latin1')
const HEAD_END = Buffer.from('\r\n\r\n')
const CRLF = Buffer.from('\r\n')
const LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i
const CHUNKED = /\r\ntransfer-encoding:[^\r]*chunked/i
const CLOSE = /\r\nconnection:[^\r]*close/i
/** The `answer` parameter of the request line's query, if any. */
const ANSWER = /^[^ ]+ [^ ?]*\?(?:[^ #]*&)?answer=([^ &#]*)/

/** The answer to a request whose head (request line and fields) is `head`. */
function answerTo(head: string): Buffer {
  const asked = ANSWER.exec(head)?.[1] ?? 'length'
  return Object.hasOwn(FRAMINGS, asked) ? FRAMINGS[asked as Framing].wire : UNKNOWN
}

/**
 * Where the chunked body starting at `from` ends (just past its last CRLF), or -1 when not all of it
 * has come yet.
 */
function chunkedEnd(data: Buffer, from: number): number {
  let at = from
  for (;;) {
    const line = data.indexOf(CRLF, at)
    if (line === -1) return -1
    const size = Number.parseInt(data.toString('latin1', at, line), 16)
    if (Number.isNaN(size)) throw new Error('bad chunk size')
    if (size === 0) {
      // The empty line, after trailer fields if any.
      if (data.length < line + 4) return -1
      if (data[line + 2] === 0x0d && data[line + 3] === 0x0a) return line + 4
      const end = data.indexOf(HEAD_END, line + 2)
      return end === -1 ? -1 : end + 4
    }
    at = line + 2 + size + 2
    if (at > data.length) return -1
  }
}

function serve(socket: Socket): void {
  socket.setNoDelay(true)
  let pending: Buffer = Buffer.alloc(0)
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    const answers: Buffer[] = []
    let close = false
    for (;;) {
      const headEnd = pending.indexOf(HEAD_END)
      if (headEnd === -1) break
      const head = pending.toString('latin1', 0, headEnd + 2)
      const bodyStart = headEnd + 4
      let end: number
      if (CHUNKED.test(head)) {
        end = chunkedEnd(pending, bodyStart)
        if (end === -1) break
      } else {
        end = bodyStart + Number(LENGTH.exec(head)?.[1] ?? 0)
        if (end > pending.length) break
      }
      pending = pending.subarray(end)
      answers.push(answerTo(head))
      if (CLOSE.test(head)) {
        close = true
        break
      }
    }
    if (answers.length === 1) socket.write(answers[0]!)
    else if (answers.length > 1) socket.write(Buffer.concat(answers))
    if (close) socket.end()
  })
  socket.on('error', () => socket.destroy())
}

const server = createServer(serve)
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on('disconnect', () => process.exit(0))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
