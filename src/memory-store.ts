import type { StoredToken, TokenStore } from './types.js'

/**
 * A token store in this process's memory: the default. Pass one instance to several managers to let
 * them share a token (they must use the same credentials).
 *
 * @param options.now - the clock used to drop expired entries; @default () => Date.now()
 * @example
 * ```ts
 * const store = memoryStore()
 * const a = createTokenManager({ appid, secret, store })
 * const b = createTokenManager({ appid, secret, store }) // reuses a's token
 * ```
 */
function memoryStore(options: { now?: () => number } = {}): TokenStore {
  const now = options.now ?? (() => Date.now())
  const entries = new Map<string, StoredToken>()
  return {
    get(key) {
      const entry = entries.get(key)
      if (entry !== undefined && entry.expiresAt <= now()) {
        entries.delete(key)
        return undefined
      }
      return entry
    },
    set(key, value) {
      entries.set(key, { token: value.token, expiresAt: value.expiresAt, issuedAt: value.issuedAt })
    },
    delete(key, token) {
      if (entries.get(key)?.token !== token) return false
      entries.delete(key)
      return true
    },
  }
}

export { memoryStore }
