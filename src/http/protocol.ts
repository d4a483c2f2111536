/**
 * AnyWeb's token protocol: the adapters' defaults for a manager that names no other platform.
 * @packageDocumentation
 */
import type { TokenProtocol } from '../types.js'
import { defaultIsAuthError } from './auth-error.js'

/** AnyWeb's protocol: the token in the JSON body's `serviceToken`, refused with `code: "A108P001"`. */
const anywebProtocol: TokenProtocol = Object.freeze({
  placement: Object.freeze({ in: 'body', field: 'serviceToken' }),
  isAuthError: defaultIsAuthError,
  tokenPath: '/service/serviceToken',
})

export { anywebProtocol }
