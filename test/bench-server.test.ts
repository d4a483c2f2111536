/**
 * The hot-path benchmark's server (bench/echo-server.ts) frames HTTP/1.1 by hand: if it lost a request
 * or answered one twice, the benchmark would hang or count wrong. Raw bytes on a socket, so the framing
 * itself is what is tested, not a client's habits.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ANSWER_BODY = '{"code":1000,"message":"success","data":{"u1":["cfx:bb"]}}'

let server: ChildProcess
let port: number

beforeAll(async () => {
  server = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../bench/echo-server.ts', import.meta.url))], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  port = await new Promise<number>((resolve, reject) => {
    server.stdout!.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())))
    server.once('error', reject)
  })
})

afterAll(() => {
  server.kill()
})

/**
 * Writes `parts` to one connection (each in its own write, `pause` ms apart), and collects what comes
 * back until the server closes, or 300 ms after the last write (enough on loopback; more answers than
 * expected would have come by then too). `before` holds what had come before each write after the first.
 */
async function exchange(parts: readonly string[], pause = 10): Promise<{ text: string; closed: boolean; before: string[] }> {
  const socket = connect(port, '127.0.0.1')
  let text = ''
  let closed = false
  const before: string[] = []
  socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
  const ended = new Promise<void>((resolve) => socket.on('end', () => resolve()))
  for (const [index, part] of parts.entries()) {
    if (index > 0) before.push(text)
    socket.write(part)
    await new Promise((resolve) => setTimeout(resolve, pause))
  }
  await Promise.race([ended.then(() => (closed = true)), new Promise((resolve) => setTimeout(resolve, 300))])
  socket.destroy()
  return { text, closed, before }
}

const count = (text: string): number => text.split('HTTP/1.1 200 OK').length - 1

describe('bench/echo-server.ts', () => {
  it('answers a request framed by content-length with the fixed JSON, and keeps the connection', async () => {
    const body = '{"group":{"u1":["cfx:aa"]}}'
    const { text, closed } = await exchange([`POST /service/checkAddresses HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`])
    expect(count(text)).toBe(1)
    expect(text).toContain(`content-length: ${ANSWER_BODY.length}\r\n`)
    expect(text.endsWith(ANSWER_BODY)).toBe(true)
    expect(closed).toBe(false)
  })

  it('waits for a body that comes in pieces, and answers once it is whole', async () => {
    const { text, before } = await exchange(['POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234', '56789'], 100)
    expect(before).toEqual([''])
    expect(count(text)).toBe(1)
  })

  it('answers pipelined requests, one answer each, in one write', async () => {
    const request = 'POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}'
    const { text } = await exchange([request + request + request])
    expect(count(text)).toBe(3)
  })

  it('reads a chunked body to its last chunk, trailers or not, split anywhere', async () => {
    const chunked = 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n'
    const trailers = 'POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-Sum: 1\r\n\r\n'
    const { text } = await exchange([chunked.slice(0, 60), chunked.slice(60), trailers.slice(0, 55), trailers.slice(55)])
    expect(count(text)).toBe(2)
  })

  it('closes after answering a request that asks for it', async () => {
    const { text, closed } = await exchange(['GET / HTTP/1.1\r\nConnection: close\r\n\r\n'])
    expect(count(text)).toBe(1)
    expect(closed).toBe(true)
  })
})
