/**
 * anyweb-service-token/emulator: a local AnyWeb service built on web standards, for demos and tests.
 *
 * @example
 * ```ts
 * import { createEmulator } from 'anyweb-service-token/emulator'
 * const emu = createEmulator()
 * const server = await emu.listen() // server.url → http://127.0.0.1:<port>
 * emu.inject('serviceToken', { type: 'status', status: 503 }, { times: 1 })
 * ```
 * @packageDocumentation
 */
export { createEmulator } from './emulator.js'
export type { Emulator, EmulatorStats } from './emulator.js'
export { decodeServiceToken } from './jwt.js'
export type { ServiceTokenClaims } from './jwt.js'
export type { BadGrantKind, Fault, FaultEndpoint, InjectOptions } from './faults.js'
export type { EmulatorServer, ListenOptions } from './listen.js'
export type { EmulatorOptions, EmulatorProfile, ReissuePolicy, RequestLogEntry, TokenLocation } from './options.js'
