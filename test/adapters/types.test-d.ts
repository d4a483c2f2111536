import type { AxiosInstance } from 'axios'
import type { Hooks } from 'ky'
import type { Middleware } from 'openapi-fetch'
import { describe, expectTypeOf, it } from 'vitest'
import { attachServiceToken } from '../../adapters/axios.js'
import type { ServiceTokenAdapterOptions as AxiosOptions } from '../../adapters/axios.js'
import { withServiceToken } from '../../adapters/fetch.js'
import type { AuthErrorState, ServiceTokenAdapterOptions, TokenPlacement } from '../../adapters/fetch.js'
import { serviceTokenHooks } from '../../adapters/ky.js'
import type { ServiceTokenHooks } from '../../adapters/ky.js'
import { createAnyWebClient, serviceTokenMiddleware } from '../../adapters/openapi-fetch.js'
import type { AnyWebClient } from '../../adapters/openapi-fetch.js'
import type { TokenManager } from '../../src/index.js'

declare const manager: TokenManager
declare const instance: AxiosInstance

describe('adapter types', () => {
  it('every adapter takes the same options type', () => {
    expectTypeOf<AxiosOptions>().toEqualTypeOf<ServiceTokenAdapterOptions>()
    expectTypeOf<Parameters<typeof serviceTokenHooks>[1]>().toEqualTypeOf<ServiceTokenAdapterOptions | undefined>()
    expectTypeOf<Parameters<typeof serviceTokenMiddleware>[1]>().toEqualTypeOf<ServiceTokenAdapterOptions | undefined>()
    expectTypeOf<{ in: 'header'; name: 'authorization'; scheme: 'Bearer' }>().toExtend<TokenPlacement>()
    expectTypeOf<{ in: 'cookie'; name: 'x' }>().not.toExtend<TokenPlacement>()
    expectTypeOf<{ in: 'body' }>().not.toExtend<TokenPlacement>()
    expectTypeOf<AuthErrorState['json']>().toEqualTypeOf<() => Promise<unknown>>()
  })

  it('fetch: withServiceToken returns something assignable to globalThis.fetch', () => {
    const wrapped = withServiceToken(globalThis.fetch, manager)
    expectTypeOf(wrapped).toEqualTypeOf<typeof globalThis.fetch>()
    expectTypeOf(wrapped('https://x', { method: 'POST' })).resolves.toEqualTypeOf<Response>()
  })

  it('axios: attachServiceToken returns detach()', () => {
    expectTypeOf(attachServiceToken(instance, manager)).toEqualTypeOf<() => void>()
  })

  it('ky: serviceTokenHooks fits ky hooks', () => {
    expectTypeOf(serviceTokenHooks(manager)).toEqualTypeOf<ServiceTokenHooks>()
    expectTypeOf<ServiceTokenHooks>().toExtend<Hooks>()
  })

  it('openapi-fetch: middleware and typed client', () => {
    expectTypeOf(serviceTokenMiddleware(manager)).toEqualTypeOf<Middleware>()
    const client = createAnyWebClient({ manager })
    expectTypeOf(client).toEqualTypeOf<AnyWebClient>()
    expectTypeOf(client.manager).toEqualTypeOf<TokenManager>()
    createAnyWebClient({ appid: 'a', secret: 's', baseUrl: 'http://127.0.0.1:1', placement: { in: 'body', field: 'serviceToken' } })
    // @ts-expect-error either a manager or credentials, not both
    createAnyWebClient({ manager, appid: 'a', secret: 's' })
    const group = { u1: ['cfx:aa'] }
    void client.POST('/service/checkAddresses', { body: { group } })
    // @ts-expect-error `group` is required
    void client.POST('/service/checkAddresses', { body: {} })
    // @ts-expect-error no such path
    void client.POST('/service/nope', { body: { group } })
  })

  it('openapi-fetch: responses are typed from openapi.yaml', async () => {
    const client = createAnyWebClient({ manager })
    const { data } = await client.POST('/service/checkAddresses', { body: { group: {} } })
    if (data !== undefined && data.code === 1000) {
      expectTypeOf(data.data).toEqualTypeOf<{ [key: string]: string[] }>()
    }
  })
})
