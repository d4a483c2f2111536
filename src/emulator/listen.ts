import { ConfigurationError } from '../errors.js'
import { unknownKey, unknownKeyMessage } from '../util.js'
import { isResetError } from './faults.js'

/**
 * Options of `emu.listen()`.
 *
 * @example
 * ```ts
 * const server = await emu.listen({ port: 8787 })
 * ```
 */
interface ListenOptions {
  /**
   * The TCP port; `0` picks a free one (read it from `url`).
   * @default 0
   */
  port?: number
  /**
   * The address to bind. Loopback by default so that a test emulator is never reachable from outside.
   * @default '127.0.0.1'
   */
  hostname?: string
}

/**
 * A running emulator server, from `emu.listen()`.
 *
 * @example
 * ```ts
 * const server = await emu.listen()
 * try {
 *   await fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{"appid":"demo-app","secret":"demo-secret"}' })
 * } finally {
 *   await server.close()
 * }
 * ```
 */
interface EmulatorServer {
  /** The base URL, e.g. `http://127.0.0.1:34567`, without a trailing slash. */
  readonly url: string
  /** Stops listening and ends every open connection, hanging ones included. Idempotent. */
  close(): Promise<void>
}

/** The handler `listen()` serves: `closing` aborts when the server closes, so hanging answers end. */
type Dispatch = (request: Request, closing: AbortSignal) => Promise<Response>

/** The largest request body a server reads; AnyWeb requests are tiny, and tests must not exhaust memory. */
const MAX_BODY_BYTES = 1024 * 1024

function resolveListenOptions(options: unknown): { port: number; hostname: string } {
  if (options === undefined) return { port: 0, hostname: '127.0.0.1' }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('listen', 'Invalid listen options: expected { port?, hostname? }.')
  }
  const unknown = unknownKey(options, ['port', 'hostname'])
  if (unknown !== undefined) throw new ConfigurationError(unknown.key, unknownKeyMessage('listen option', unknown, ['port', 'hostname']))
  const { port = 0, hostname = '127.0.0.1' } = options as Record<string, unknown>
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ConfigurationError('port', `Invalid listen option \`port\`: expected a whole number 0–65535, got ${String(port)}.`)
  }
  if (typeof hostname !== 'string' || hostname === '') {
    throw new ConfigurationError('hostname', 'Invalid listen option `hostname`: expected a non-empty string.')
  }
  return { port, hostname }
}

function baseUrl(hostname: string, port: number): string {
  return `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`
}

/**
 * A body that fails as soon as it is read: Deno and Bun then drop the connection, the nearest thing to a
 * reset their servers offer. Both log the failure's reason; Bun stays silent for `undefined` (raised from
 * `pull`), Deno prints an empty line for `''` (and "undefined" otherwise).
 */
function brokenResponse(reason: '' | undefined): Response {
  return new Response(
    new ReadableStream({
      pull(controller) {
        controller.error(reason)
      },
    }),
  )
}

/** For Deno and Bun: their servers want a response; a reset or a closing hang gets a broken one. */
async function respondOrBreak(
  dispatch: Dispatch,
  request: Request,
  closing: AbortSignal,
  quietReason: '' | undefined,
): Promise<Response> {
  try {
    return await dispatch(request, closing)
  } catch (error) {
    if (isResetError(error) || request.signal.aborted || closing.aborted) return brokenResponse(quietReason)
    return Response.json({ code: 'INTERNAL', message: 'The emulator failed to answer.' }, { status: 500 })
  }
}

interface DenoServer {
  readonly addr: { port: number }
  shutdown(): Promise<void>
}
interface DenoLike {
  serve(options: {
    port: number
    hostname: string
    onListen: () => void
    handler: (request: Request) => Promise<Response>
  }): DenoServer
}

async function listenDeno(deno: DenoLike, dispatch: Dispatch, port: number, hostname: string): Promise<EmulatorServer> {
  const closing = new AbortController()
  const server = deno.serve({
    port,
    hostname,
    // Without it Deno prints "Listening on …" to stdout.
    onListen: () => {},
    handler: async (request) => {
      // Reading `request.signal` makes Deno print a warning about its legacy abort behaviour on every run,
      // so the handler gets a copy whose signal is the server's own: a hang then ends when the server
      // closes, not when its client goes away.
      let body: ArrayBuffer | undefined
      try {
        body = request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer()
      } catch {
        return brokenResponse('') // the client went away mid-body
      }
      const copy = new Request(request.url, {
        method: request.method,
        headers: request.headers,
        signal: closing.signal,
        ...(body === undefined ? {} : { body }),
      })
      return respondOrBreak(dispatch, copy, closing.signal, '')
    },
  })
  let closed: Promise<void> | undefined
  return {
    url: baseUrl(hostname, server.addr.port),
    close: () =>
      (closed ??= (async () => {
        // Deno's shutdown waits for handlers in flight: release the hanging ones first.
        closing.abort(new Error('The emulator server closed.'))
        await server.shutdown()
      })()),
  }
}

interface BunServer {
  readonly port: number
  stop(closeActiveConnections?: boolean): void | Promise<void>
}
interface BunLike {
  serve(options: {
    port: number
    hostname: string
    idleTimeout: number
    fetch: (request: Request) => Promise<Response>
  }): BunServer
}

async function listenBun(bun: BunLike, dispatch: Dispatch, port: number, hostname: string): Promise<EmulatorServer> {
  const closing = new AbortController()
  const server = bun.serve({
    port,
    hostname,
    // Bun closes connections idle for 10 s by default, which would cut a `hang` or a long `latency` short.
    idleTimeout: 0,
    fetch: (request) => respondOrBreak(dispatch, request, closing.signal, undefined),
  })
  let closed: Promise<void> | undefined
  return {
    url: baseUrl(hostname, server.port),
    close: () =>
      (closed ??= (async () => {
        closing.abort(new Error('The emulator server closed.'))
        await server.stop(true)
      })()),
  }
}

async function listenNode(dispatch: Dispatch, port: number, hostname: string): Promise<EmulatorServer> {
  // Loaded only here, so the emulator module itself stays web-standard and loads in any runtime.
  const http = await import('node:http')
  const closing = new AbortController()
  // Known once listening; requests only arrive after that.
  let origin = ''

  const server = http.createServer((req, res) => {
    const aborted = new AbortController()
    // 'close' before the response finished means the client went away: let the handler stop.
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort(new Error('The client closed the connection.'))
    })

    const chunks: Uint8Array[] = []
    let size = 0
    req.on('data', (chunk: Uint8Array) => {
      if (res.headersSent) return
      size += chunk.byteLength
      if (size > MAX_BODY_BYTES) {
        res.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' })
        res.end(JSON.stringify({ code: 'PAYLOAD_TOO_LARGE', message: `Request bodies are limited to ${MAX_BODY_BYTES} bytes.` }))
        return
      }
      chunks.push(chunk)
    })
    req.on('error', () => aborted.abort(new Error('The request failed.')))
    req.on('end', () => {
      if (res.headersSent) return
      const body = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        body.set(chunk, offset)
        offset += chunk.byteLength
      }
      const headers = new Headers()
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i] ?? ''
        if (!name.startsWith(':')) headers.append(name, req.rawHeaders[i + 1] ?? '')
      }
      const method = req.method ?? 'GET'
      let request: Request
      try {
        request = new Request(`${origin}${req.url ?? '/'}`, {
          method,
          headers,
          signal: aborted.signal,
          ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
        })
      } catch {
        res.writeHead(400, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify({ code: 'BAD_REQUEST', message: 'The request could not be read.' }))
        return
      }
      dispatch(request, closing.signal).then(
        async (response) => {
          const bytes = new Uint8Array(await response.arrayBuffer())
          if (res.destroyed) return
          const outgoing: Record<string, string> = {}
          response.headers.forEach((value, name) => {
            outgoing[name] = value
          })
          outgoing['content-length'] = String(bytes.byteLength)
          res.writeHead(response.status, outgoing)
          res.end(method === 'HEAD' ? undefined : bytes)
        },
        (error: unknown) => {
          if (isResetError(error) || aborted.signal.aborted || closing.signal.aborted || res.headersSent) {
            req.socket.destroy()
            return
          }
          res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
          res.end(JSON.stringify({ code: 'INTERNAL', message: 'The emulator failed to answer.' }))
        },
      )
    })
  })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, hostname, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address()
  origin = baseUrl(hostname, typeof address === 'object' && address !== null ? address.port : port)

  let closed: Promise<void> | undefined
  return {
    url: origin,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        closing.abort(new Error('The emulator server closed.'))
        server.close(() => resolve())
        // close() alone waits for keep-alive and hanging connections; a test would stall on them.
        server.closeAllConnections()
      })),
  }
}

/** Serves `dispatch` on a loopback port with the runtime's own HTTP server. */
async function listen(dispatch: Dispatch, options: unknown): Promise<EmulatorServer> {
  const { port, hostname } = resolveListenOptions(options)
  const runtime = globalThis as { Deno?: DenoLike; Bun?: BunLike }
  if (runtime.Deno !== undefined) return listenDeno(runtime.Deno, dispatch, port, hostname)
  if (runtime.Bun !== undefined) return listenBun(runtime.Bun, dispatch, port, hostname)
  return listenNode(dispatch, port, hostname)
}

export { listen }
export type { Dispatch, EmulatorServer, ListenOptions }
