/**
 * The minimal API server of the hot-path benchmark, run in its own process so that the client process
 * measures the client only: reads the request, answers a fixed `{"code":1000,…}`, keep-alive.
 * Prints its port on stdout.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'

const BODY = Buffer.from('{"code":1000,"message":"success","data":{"u1":["cfx:bb"]}}')
const server = createServer((request, response) => {
  request.resume()
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': BODY.byteLength })
    response.end(BODY)
  })
})
server.keepAliveTimeout = 60_000
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on('disconnect', () => process.exit(0))
process.stdin.on('end', () => process.exit(0))
process.stdin.resume()
