import axios from 'axios'
import ky from 'ky'
import createClient from 'openapi-fetch'
import { attachServiceToken } from '../../adapters/axios.js'
import { withServiceToken } from '../../adapters/fetch.js'
import { serviceTokenHooks } from '../../adapters/ky.js'
import { serviceTokenMiddleware } from '../../adapters/openapi-fetch.js'
import type { ServiceTokenAdapterOptions } from '../../src/http/policy.js'
import type { TokenManager } from '../../src/index.js'

/** One request, described independently of the host client. */
interface Call {
  url: string
  method?: 'GET' | 'POST'
  /** Sent as the raw body (string, URLSearchParams or FormData). */
  body?: string | URLSearchParams | FormData
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** What came back, whatever the host: HTTP errors are not thrown (each driver turns that off). */
interface Outcome {
  status: number
  text: string
  json: unknown
  location: string | null
}

interface Driver {
  name: string
  /** Whether redirects to allowed origins are followed by the adapter (axios returns every redirect). */
  followsAllowedRedirects: boolean
  /**
   * What an abort rejects with: the signal's reason, or (axios) a CanceledError, as axios turns every
   * rejection of an aborted request's adapter into one.
   */
  abortsWith: 'reason' | 'CanceledError'
  client(manager: TokenManager, options?: ServiceTokenAdapterOptions): (call: Call) => Promise<Outcome>
}

/**
 * The library's error a call failed with, wherever the host put it: axios carries it as the `cause` of
 * an AxiosError (its error path carries every failure), the others reject with it.
 */
function libraryErrorOf(error: unknown): unknown {
  return axios.isAxiosError(error) && error.cause !== undefined ? error.cause : error
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

async function outcomeOf(response: Response): Promise<Outcome> {
  const text = await response.text()
  return { status: response.status, text, json: parse(text), location: response.headers.get('location') }
}

const fetchDriver: Driver = {
  name: 'fetch',
  followsAllowedRedirects: true,
  abortsWith: 'reason',
  client(manager, options) {
    const wrapped = withServiceToken(globalThis.fetch, manager, options)
    return async (call) => {
      const init: RequestInit = { method: call.method ?? 'POST' }
      if (call.body !== undefined) init.body = call.body
      if (call.headers !== undefined) init.headers = call.headers
      if (call.signal !== undefined) init.signal = call.signal
      return outcomeOf(await wrapped(call.url, init))
    }
  },
}

function axiosDriver(adapter: 'http' | 'fetch'): Driver {
  return {
    name: `axios (${adapter})`,
    followsAllowedRedirects: false,
    abortsWith: 'CanceledError',
    client(manager, options) {
      const instance = axios.create({ adapter, validateStatus: () => true, responseType: 'text', transformResponse: [(data: unknown) => data] })
      attachServiceToken(instance, manager, options)
      return async (call) => {
        const response = await instance.request<string>({
          url: call.url,
          method: call.method ?? 'POST',
          ...(call.body === undefined ? {} : { data: call.body }),
          ...(call.headers === undefined ? {} : { headers: call.headers }),
          ...(call.signal === undefined ? {} : { signal: call.signal }),
        })
        const text = typeof response.data === 'string' ? response.data : String(response.data ?? '')
        const location = response.headers['location']
        return { status: response.status, text, json: parse(text), location: typeof location === 'string' ? location : null }
      }
    },
  }
}

const kyDriver: Driver = {
  name: 'ky',
  followsAllowedRedirects: true,
  abortsWith: 'reason',
  client(manager, options) {
    const api = ky.create({ hooks: serviceTokenHooks(manager, options), throwHttpErrors: false, timeout: false })
    return async (call) => {
      const response = await api(call.url, {
        method: call.method ?? 'POST',
        ...(call.body === undefined ? {} : { body: call.body }),
        ...(call.headers === undefined ? {} : { headers: call.headers }),
        ...(call.signal === undefined ? {} : { signal: call.signal }),
      })
      return outcomeOf(response)
    }
  },
}

/**
 * openapi-fetch with the middleware, or with the fetch wrapper as the client's `fetch` (what
 * createAnyWebClient does, and what the README recommends for a client you create).
 */
function openapiFetchDriver(via: 'middleware' | 'fetch option'): Driver {
  return {
    name: via === 'middleware' ? 'openapi-fetch' : 'openapi-fetch (fetch option)',
    followsAllowedRedirects: true,
    abortsWith: 'reason',
    client(manager, options) {
      // Untyped paths: the matrix sends to arbitrary URLs; the typed client has its own tests.
      type Paths = Record<string, Record<string, unknown>>
      const client =
        via === 'middleware'
          ? createClient<Paths>({ fetch: (request) => globalThis.fetch(request) })
          : createClient<Paths>({ fetch: withServiceToken(globalThis.fetch, manager, options) })
      if (via === 'middleware') client.use(serviceTokenMiddleware(manager, options))
      return async (call) => {
        const url = new URL(call.url)
        const method = call.method ?? 'POST'
        const init = {
          baseUrl: url.origin,
          parseAs: 'text' as const,
          ...(call.body === undefined ? {} : { body: call.body, bodySerializer: (body: unknown) => body }),
          ...(call.headers === undefined ? {} : { headers: call.headers }),
          ...(call.signal === undefined ? {} : { signal: call.signal }),
        }
        const path = url.pathname + url.search
        const result = (await (method === 'GET' ? client.GET(path as never, init as never) : client.POST(path as never, init as never))) as {
          data?: unknown
          error?: unknown
          response: Response
        }
        const raw = result.data ?? result.error
        const text = typeof raw === 'string' ? raw : raw === undefined ? '' : JSON.stringify(raw)
        return { status: result.response.status, text, json: parse(text), location: result.response.headers.get('location') }
      }
    },
  }
}

const drivers: readonly Driver[] = [
  fetchDriver,
  axiosDriver('http'),
  axiosDriver('fetch'),
  kyDriver,
  openapiFetchDriver('middleware'),
  openapiFetchDriver('fetch option'),
]

export { drivers, libraryErrorOf }
export type { Call, Driver, Outcome }
