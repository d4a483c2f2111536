// Run in this repository: npm run build && npx tsx examples/openapi-fetch.ts — the typed AnyWeb client against a local emulator.
import { createAnyWebClient } from 'anyweb-service-token/openapi-fetch'
import { createEmulator } from 'anyweb-service-token/emulator'

const emulator = createEmulator({ users: { u1: ['cfx:owned'] } })
const server = await emulator.listen({ hostname: '127.0.0.1', port: 0 })
const client = createAnyWebClient({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
try {
  // `serviceToken` is not part of the body type: the client's fetch adds it.
  const { data, error } = await client.POST('/service/checkAddresses', { body: { group: { u1: ['cfx:owned', 'cfx:other'] } } })
  console.log(data ?? error) // { code: 1000, message: 'success', data: { u1: ['cfx:other'] } }
} finally {
  client.manager.close()
  await server.close()
}
