/**
 * A smoke run of `listen()` for any runtime: `deno run -A --sloppy-imports` / `bun` / `tsx` this file.
 * It prints one JSON line of results and exits non-zero on failure; test/emulator.test.ts runs it.
 */
import { createEmulator } from '../../src/emulator/index.js'

const outcome = (promise: Promise<Response>): Promise<string> =>
  promise.then(
    // Deno's server cannot reset a connection: it sends the headers, then breaks the body.
    (response) => response.text().then(() => `status ${response.status}`, () => 'BodyError'),
    (error: unknown) => (error instanceof Error ? error.name : 'rejected'),
  )

async function main(): Promise<Record<string, unknown>> {
  const emu = createEmulator()
  const server = await emu.listen()
  const results: Record<string, unknown> = { url: server.url }
  try {
    const form = new FormData()
    form.set('appid', 'demo-app')
    form.set('secret', 'demo-secret')
    const grant = (await (await fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: form })).json()) as {
      code: unknown
      data: { serviceToken: string }
    }
    results.tokenCode = grant.code
    const check = (await (
      await fetch(`${server.url}/service/checkAddresses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ serviceToken: grant.data.serviceToken, group: { u1: ['cfx:a'] } }),
      })
    ).json()) as { code: unknown }
    results.checkCode = check.code

    emu.inject('checkAddresses', { type: 'hang' }, { times: 1 })
    const controller = new AbortController()
    const aborted = outcome(fetch(`${server.url}/service/checkAddresses`, { method: 'POST', body: '{}', signal: controller.signal }))
    // Abort once the server has the request, so the hang is really being served.
    for (let i = 0; i < 200 && emu.stats().faultsServed < 1; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    controller.abort()
    results.hangAborted = await aborted

    emu.inject('serviceToken', { type: 'reset' }, { times: 1 })
    results.reset = await outcome(fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{}' }))

    emu.inject('serviceToken', { type: 'hang' }, { times: 1 })
    const pending = outcome(fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{}' }))
    for (let i = 0; i < 200 && emu.stats().faultsServed < 3; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    const started = Date.now()
    await server.close()
    results.closeMs = Date.now() - started
    results.hangAtClose = await pending
    results.stats = emu.stats()
  } finally {
    await server.close()
  }
  return results
}

main().then(
  (results) => {
    console.log(JSON.stringify(results))
  },
  (error: unknown) => {
    console.error(error)
    // Deno has no `process` without node compat; a thrown error at top level exits non-zero everywhere.
    setTimeout(() => {
      throw error
    })
  },
)
