// Run in this repository: npm run build && npx tsx examples/axios.ts — an axios instance against a local AnyWeb emulator.
import axios from 'axios'
import { attachServiceToken } from 'anyweb-service-token/axios'
import { createEmulator } from 'anyweb-service-token/emulator'
import { createTokenManager } from 'anyweb-service-token'

const emulator = createEmulator({ users: { u1: ['cfx:owned'] } })
const server = await emulator.listen({ hostname: '127.0.0.1', port: 0 })
const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
const api = axios.create({ baseURL: server.url })
const detach = attachServiceToken(api, manager)
try {
  const { data } = await api.post('/service/checkAddresses', { group: { u1: ['cfx:owned', 'cfx:other'] } })
  console.log(data) // { code: 1000, message: 'success', data: { u1: ['cfx:other'] } }
} finally {
  detach()
  manager.close()
  await server.close()
}
