import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { createEmulator } from '../../src/emulator/index.js'
import type { Emulator, RequestLogEntry } from '../../src/emulator/index.js'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import type { TokenManager, TokenManagerEvent } from '../../src/index.js'
import { drivers, libraryErrorOf } from '../helpers/adapter-drivers.js'
import { ID, platforms, SECRET, secretForms } from './platforms.js'
import type { PlatformCase } from './platforms.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** An emulator of the platform on a loopback port, a manager from the preset, and everything either said. */
async function world(platform: PlatformCase, secret = SECRET) {
  const logs: RequestLogEntry[] = []
  const emu: Emulator = createEmulator({ profile: platform.profile, apps: { [ID]: SECRET }, onRequest: (entry) => void logs.push(entry) })
  const server = await emu.listen({ hostname: '127.0.0.1', port: 0 })
  const events: TokenManagerEvent[] = []
  const manager: TokenManager = createTokenManager({
    ...platform.make(secret, server.url),
    retry: { attempts: 1 },
    onEvent: (event) => void events.push(event),
  })
  cleanups.push(() => server.close(), () => manager.close())
  /** Everything the library and the emulator put out, as text. */
  const output = (...extra: unknown[]): string => [...events, ...logs, ...extra].map((value) => inspect(value, { depth: 8 }) + JSON.stringify(value)).join('\n')
  return { emu, url: server.url, manager, output }
}

describe.each(platforms)('$preset', (platform) => {
  describe.each(drivers)('with $name', (driver) => {
    it('cold start: 20 concurrent calls make one token request, all succeed, and the token goes where the platform reads it', async () => {
      const { emu, url, manager } = await world(platform)
      const call = driver.client(manager)
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => call(platform.call(url))))
      expect(outcomes.every((outcome) => outcome.status === 200 && platform.ok(outcome.json))).toBe(true)
      expect(emu.stats().requests.serviceToken).toBe(1)
      expect(emu.stats().authFailures).toBe(0)
    })

    it('revocation: the refused call is answered after one refresh and one replay', async () => {
      const { emu, url, manager } = await world(platform)
      const call = driver.client(manager)
      expect(platform.ok((await call(platform.call(url))).json)).toBe(true)
      emu.revokeAll()
      emu.resetStats()
      const outcome = await call(platform.call(url))
      expect(platform.ok(outcome.json)).toBe(true)
      expect(emu.stats()).toMatchObject({ requests: { serviceToken: 1, checkAddresses: 2 }, authFailures: 1 })
    })

    it('a wrong secret: the call fails with the typed credentials error, and the secret shows nowhere', async () => {
      const { emu, url, manager, output } = await world(platform, `${SECRET}-wrong`)
      const error = await driver.client(manager)(platform.call(url)).catch((caught: unknown) => libraryErrorOf(caught))
      expect(isServiceTokenError(error, platform.credentialsCode as never)).toBe(true)
      expect((error as { retryable: boolean }).retryable).toBe(false)
      expect(emu.stats().requests.checkAddresses).toBe(0)
      const text = output(error, (error as Error).message, (error as Error).stack)
      for (const form of secretForms(`${SECRET}-wrong`)) expect(text).not.toContain(form)
    })
  })

  it.each(Object.entries(platform.codes))('token endpoint code %s → %s, with the secret nowhere', async (code, expected) => {
    const { emu, manager, output } = await world(platform)
    emu.inject('serviceToken', { type: 'api-error', code, message: `refused ${SECRET}` }, { times: 1 })
    const error = await manager.getToken().catch((caught: unknown) => caught)
    expect(isServiceTokenError(error, expected as never)).toBe(true)
    expect((error as { serverCode: string }).serverCode).toBe(code)
    expect((error as { retryable: boolean }).retryable).toBe(expected.endsWith('_API'))
    if (expected === 'ERR_PLATFORM_QUOTA') expect((error as Error).message).toMatch(/resets the next day/)
    const text = output(error, (error as Error).message)
    for (const form of secretForms(SECRET)) expect(text).not.toContain(form)
  })

  it('network failure: the error and its cause never show the secret, even where the URL carries it', async () => {
    const { manager, output } = (() => {
      const events: TokenManagerEvent[] = []
      // A fetch that fails the way a verbose client does: with the whole URL (and so the query) in its message.
      const leaky = (input: Request | URL | string): Promise<Response> =>
        Promise.reject(new TypeError(`request to ${input instanceof Request ? input.url : String(input)} failed`, { cause: new Error(String(input)) }))
      const made = createTokenManager({ ...platform.make(SECRET, 'http://127.0.0.1:9', leaky as never), retry: { attempts: 1 }, onEvent: (event) => void events.push(event) })
      cleanups.push(() => made.close())
      return { manager: made, output: (...extra: unknown[]) => [...events, ...extra].map((value) => inspect(value, { depth: 8 })).join('\n') }
    })()
    const error = await manager.getToken().catch((caught: unknown) => caught)
    expect(isServiceTokenError(error, 'ERR_TOKEN_NETWORK')).toBe(true)
    const text = output(error)
    for (const form of secretForms(SECRET)) expect(text).not.toContain(form)
  })
})
