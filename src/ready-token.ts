import { anywebProtocol } from './presets/protocol.js'
import type { TokenProtocol } from './presets/protocol.js'
import type { TokenManager, TokenManagerEvent } from './types.js'

/**
 * Internal: a manager made by `createTokenManager` holds, under this symbol, its own `getToken`, a
 * `ready()` that answers with the token a caller could have right now without waiting, or `undefined`
 * (the adapters use it to skip a promise per request), and its `emit`, through which the adapters report
 * on its `onEvent`.
 */
const READY_TOKEN: unique symbol = Symbol('anyweb-service-token.readyToken')

interface ReadyToken {
  /** The `getToken` that `ready` stands for. */
  readonly getToken: TokenManager['getToken']
  readonly ready: () => string | undefined
  readonly emit: (event: TokenManagerEvent) => void
  /** The manager's platform protocol: the adapters' default placement and auth-error rule. */
  readonly protocol: TokenProtocol
}

/**
 * The token `manager` would hand out at once, when it is a manager made by `createTokenManager` whose
 * `getToken` is its own; `undefined` otherwise (a manager written or wrapped by hand, even one copied
 * with its symbols or inheriting them, is always asked through its own `getToken`).
 */
function readyTokenOf(manager: TokenManager): string | undefined {
  const holder = (manager as { [READY_TOKEN]?: ReadyToken })[READY_TOKEN]
  return holder !== undefined && holder.getToken === manager.getToken ? holder.ready() : undefined
}

/** Reports `event` on the `onEvent` of `manager`, when it is a manager made by `createTokenManager`. */
function emitThrough(manager: TokenManager, event: TokenManagerEvent): void {
  ;(manager as { [READY_TOKEN]?: ReadyToken })[READY_TOKEN]?.emit(event)
}

/** The protocol of `manager`'s platform; AnyWeb's for a manager not made by `createTokenManager`. */
function protocolOf(manager: TokenManager): TokenProtocol {
  return (manager as { [READY_TOKEN]?: ReadyToken })[READY_TOKEN]?.protocol ?? anywebProtocol
}

export { emitThrough, protocolOf, READY_TOKEN, readyTokenOf }
export type { ReadyToken }
