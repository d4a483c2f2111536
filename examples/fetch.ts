// Run in this repository: npm run build && npx tsx examples/fetch.ts — plain fetch against a local AnyWeb emulator.
import { withServiceToken } from 'anyweb-service-token/fetch'
import { createEmulator } from 'anyweb-service-token/emulator'
import { createTokenManager } from 'anyweb-service-token'

const emulator = createEmulator({ users: { u1: ['cfx:owned'] } })
const server = await emulator.listen({ hostname: '127.0.0.1', port: 0 })
const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
try {
  const anyweb = withServiceToken(fetch, manager)
  const response = await anyweb(`${server.url}/service/checkAddresses`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ group: { u1: ['cfx:owned', 'cfx:other'] } }), // serviceToken is added
  })
  console.log(await response.json()) // { code: 1000, message: 'success', data: { u1: ['cfx:other'] } }
  emulator.revokeAll() // the next call gets A108P001, refreshes once and replays
  const again = await anyweb(`${server.url}/service/checkAddresses`, { method: 'POST', body: '{"group":{}}' })
  console.log(await again.json(), emulator.stats())
} finally {
  manager.close()
  await server.close()
}
