/**
 * The hot-path benchmark's server (bench/echo-server.ts) frames HTTP/1.1 by hand: if it lost a request
 * or answered one twice, the benchmark would hang or count wrong; if it framed an answer otherwise than
 * its request asks (`?answer=…`), a cell of the benchmark would measure another framing. Raw bytes on a
 * socket, so the framing itself is what is tested, not a client's habits.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect } from 'node:net'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
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

interface Answer {
  status: number
  /** Field names lower-cased; a repeated field's values joined with ", ". */
  fields: Record<string, string>
  /** The body as framed on the wire, de-chunked but not decoded. */
  body: Buffer
  /** The sizes of its chunks, when chunked. */
  chunks: number[]
}

/**
 * The answers in `text` (latin1, as {@link exchange} collects it), framed by their own heads; throws
 * when the last one is not whole, or its framing is broken.
 */
function answersIn(text: string): Answer[] {
  const answers: Answer[] = []
  let at = 0
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at)
    if (headEnd === -1) throw new Error(`an answer's head is cut off: ${JSON.stringify(text.slice(at, at + 80))}`)
    const [statusLine, ...lines] = text.slice(at, headEnd).split('\r\n')
    const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine!)?.[1])
    const fields: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      const name = line.slice(0, colon).toLowerCase()
      fields[name] = fields[name] === undefined ? line.slice(colon + 1).trim() : `${fields[name]}, ${line.slice(colon + 1).trim()}`
    }
    at = headEnd + 4
    const chunks: number[] = []
    let body: string
    if (/chunked/i.test(fields['transfer-encoding'] ?? '')) {
      if (fields['content-length'] !== undefined) throw new Error('both content-length and chunked')
      body = ''
      for (;;) {
        const line = text.indexOf('\r\n', at)
        if (line === -1) throw new Error('a chunk size line is cut off')
        const sizeText = text.slice(at, line)
        if (!/^[0-9a-f]+$/i.test(sizeText)) throw new Error(`bad chunk size ${JSON.stringify(sizeText)}`)
        const size = Number.parseInt(sizeText, 16)
        at = line + 2
        if (size === 0) {
          if (text.slice(at, at + 2) !== '\r\n') throw new Error('no empty line after the last chunk')
          at += 2
          break
        }
        if (text.length < at + size + 2) throw new Error('a chunk is cut off')
        if (text.slice(at + size, at + size + 2) !== '\r\n') throw new Error('a chunk is longer or shorter than its size')
        chunks.push(size)
        body += text.slice(at, at + size)
        at += size + 2
      }
    } else {
      const length = Number(fields['content-length'] ?? Number.NaN)
      if (!Number.isInteger(length) || text.length < at + length) throw new Error('no content-length, or a body cut off')
      body = text.slice(at, at + length)
      at += length
    }
    answers.push({ status, fields, body: Buffer.from(body, 'latin1'), chunks })
  }
  return answers
}

const request = (answer?: string): string =>
  `POST /service/checkAddresses${answer === undefined ? '' : `?answer=${answer}`} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}`

/** The AnyWeb answer's addresses, checked to be one. */
function addressesOf(json: string): unknown[] {
  const parsed = JSON.parse(json) as { code: unknown; data: { u1: unknown[] } }
  expect(parsed.code).toBe(1000)
  return parsed.data.u1
}

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

  it('answers ?answer=chunked with the small JSON, chunked and with no content-length', async () => {
    const [answer, ...more] = answersIn((await exchange([request('chunked')])).text)
    expect(more).toEqual([])
    expect(answer!.status).toBe(200)
    expect(answer!.fields['transfer-encoding']).toBe('chunked')
    expect(answer!.fields['content-length']).toBeUndefined()
    expect(answer!.fields['content-encoding']).toBeUndefined()
    expect(answer!.body.toString()).toBe(ANSWER_BODY)
  })

  it('answers ?answer=gzip with the small JSON gzipped, chunked', async () => {
    const [answer, ...more] = answersIn((await exchange([request('gzip')])).text)
    expect(more).toEqual([])
    expect(answer!.fields['content-encoding']).toBe('gzip')
    expect(answer!.fields['transfer-encoding']).toBe('chunked')
    expect(answer!.fields['content-length']).toBeUndefined()
    expect(answer!.body.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
    expect(gunzipSync(answer!.body).toString()).toBe(ANSWER_BODY)
  })

  it('answers ?answer=20k with about 20 KB of AnyWeb JSON and its content-length', async () => {
    const [answer, ...more] = answersIn((await exchange([request('20k')])).text)
    expect(more).toEqual([])
    expect(answer!.fields['transfer-encoding']).toBeUndefined()
    expect(Number(answer!.fields['content-length'])).toBe(answer!.body.length)
    expect(answer!.body.length).toBeGreaterThanOrEqual(20 * 1024)
    expect(answer!.body.length).toBeLessThan(21 * 1024)
    expect(addressesOf(answer!.body.toString()).length).toBeGreaterThan(400)
  })

  it('answers ?answer=200k with about 200 KB of AnyWeb JSON in chunks of 16 KiB', async () => {
    const [answer, ...more] = answersIn((await exchange([request('200k')])).text)
    expect(more).toEqual([])
    expect(answer!.fields['transfer-encoding']).toBe('chunked')
    expect(answer!.fields['content-length']).toBeUndefined()
    expect(answer!.body.length).toBeGreaterThanOrEqual(200 * 1024)
    expect(answer!.body.length).toBeLessThan(210 * 1024)
    expect(answer!.chunks.slice(0, -1).every((size) => size === 16 * 1024)).toBe(true)
    expect(answer!.chunks.length).toBe(Math.ceil(answer!.body.length / (16 * 1024)))
    expect(addressesOf(answer!.body.toString()).length).toBeGreaterThan(4000)
  })

  it('frames each pipelined request as it asks, in order; an unknown framing gets a 400 and the connection stays', async () => {
    const { text, closed } = await exchange([request('gzip') + request('200k') + request() + request('nonsense') + request('chunked')])
    const answers = answersIn(text)
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 400, 200])
    expect(answers.map((answer) => answer.fields['content-encoding'] ?? answer.fields['transfer-encoding'] ?? 'length')).toEqual([
      'gzip',
      'chunked',
      'length',
      'length',
      'chunked',
    ])
    expect(gunzipSync(answers[0]!.body).toString()).toBe(ANSWER_BODY)
    expect(answers[1]!.body.length).toBeGreaterThanOrEqual(200 * 1024)
    expect(answers[2]!.body.toString()).toBe(ANSWER_BODY)
    expect(answers[4]!.body.toString()).toBe(ANSWER_BODY)
    expect(closed).toBe(false)
  })

  it('closes after answering a request that asks for it', async () => {
    const { text, closed } = await exchange(['GET / HTTP/1.1\r\nConnection: close\r\n\r\n'])
    expect(count(text)).toBe(1)
    expect(closed).toBe(true)
  })
})
