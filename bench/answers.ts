/**
 * The answers of the hot-path benchmark's server (bench/echo-server.ts), one per framing, each made
 * once at start-up: the decoded JSON text, and the whole HTTP/1.1 answer as it goes on the wire.
 */
import { gzipSync } from 'node:zlib'

/** An AnyWeb answer (`checkAddresses`) whose JSON text is at least `bytes` long: `u1` lists enough addresses. */
function anyWebJson(bytes: number): string {
  const addresses: string[] = []
  // Each address adds its 46 characters, two quotes and a comma.
  for (let size = 60; size < bytes; size += 49) addresses.push(`cfx:aa${addresses.length.toString(36).padStart(40, '0')}`)
  return JSON.stringify({ code: 1000, message: 'success', data: { u1: addresses } })
}

const SMALL = '{"code":1000,"message":"success","data":{"u1":["cfx:bb"]}}'
const HEAD = 'HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n'

function withLength(body: Buffer, extra = ''): Buffer {
  return Buffer.concat([Buffer.from(`${HEAD}${extra}content-length: ${body.length}\r\n\r\n`, 'latin1'), body])
}

/** `body` in chunks of at most `size` bytes, then the last chunk, all in one buffer (one write). */
function chunked(body: Buffer, size: number, extra = ''): Buffer {
  const parts: Buffer[] = [Buffer.from(`${HEAD}${extra}transfer-encoding: chunked\r\n\r\n`, 'latin1')]
  for (let at = 0; at < body.length; at += size) {
    const chunk = body.subarray(at, at + size)
    parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`, 'latin1'), chunk, Buffer.from('\r\n', 'latin1'))
  }
  parts.push(Buffer.from('0\r\n\r\n', 'latin1'))
  return Buffer.concat(parts)
}

const small = Buffer.from(SMALL)
const json20k = Buffer.from(anyWebJson(20 * 1024))
const json200k = Buffer.from(anyWebJson(200 * 1024))

/**
 * The answers, by the value of the request's `answer` query parameter: the decoded JSON text and the
 * bytes on the wire. 16 KiB chunks, as a server writing from a buffer sends a long answer.
 */
const FRAMINGS = {
  /** Small JSON, content-length (the default, no `answer` parameter). */
  length: { json: SMALL, wire: withLength(small) },
  /** Small JSON, chunked (`writeHead` + `end` in Express-style servers, most Java stacks). */
  chunked: { json: SMALL, wire: chunked(small, 16 * 1024) },
  /** Small JSON, gzip, chunked (nginx with gzip on). */
  gzip: { json: SMALL, wire: chunked(gzipSync(small), 16 * 1024, 'content-encoding: gzip\r\n') },
  /** About 20 KB of JSON, content-length. */
  '20k': { json: json20k.toString(), wire: withLength(json20k) },
  /** About 200 KB of JSON, chunked. */
  '200k': { json: json200k.toString(), wire: chunked(json200k, 16 * 1024) },
} as const
type Framing = keyof typeof FRAMINGS

/** The framings in the order the tables show them. */
const FRAMING_NAMES = Object.keys(FRAMINGS) as Framing[]

/** How the tables name each framing. */
const FRAMING_LABELS: Record<Framing, string> = {
  length: 'small, content-length',
  chunked: 'small, chunked',
  gzip: 'small, gzip + chunked',
  '20k': '20 KB, content-length',
  '200k': '200 KB, chunked',
}

export { FRAMING_LABELS, FRAMING_NAMES, FRAMINGS }
export type { Framing }

