// Run in this repository: npm run build && npx tsx examples/ky.ts — ky (≥ 2) against a local AnyWeb emulator.
import ky from 'ky'
import { serviceTokenHooks } from 'anyweb-service-token/ky'
import { createEmulator } from 'anyweb-service-token/emulator'
import { createTokenManager } from 'anyweb-service-token'

const emulator = createEmulator({ users: { u1: ['cfx:owned'] } })
const server = await emulator.listen({ hostname: '127.0.0.1', port: 0 })
const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
try {
  const api = ky.create({ baseUrl: server.url, hooks: serviceTokenHooks(manager) })
  const result = await api.post('service/checkAddresses', { json: { group: { u1: ['cfx:owned', 'cfx:other'] } } }).json()
  console.log(result) // { code: 1000, message: 'success', data: { u1: ['cfx:other'] } }
} finally {
  manager.close()
  await server.close()
}
