import type { components } from '../../src/generated/anyweb.js'

/**
 * A hand-written checker of the response schemas of openapi.yaml. The generated types pin the key lists
 * at compile time (see the `Equal` assertions below: regenerate the types after changing openapi.yaml and
 * tsc fails here until the checker follows); the run-time part adds what types cannot say (`const: 1000`,
 * `minLength: 1`, `exclusiveMinimum: 0`).
 */
type Schemas = components['schemas']
type ResponseSchema = 'ServiceTokenSuccess' | 'ServiceTokenError' | 'CheckAddressesSuccess' | 'CheckAddressesError'

type RequiredKeys<T> = { [K in keyof T]-?: object extends Pick<T, K> ? never : K }[keyof T]
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Assert<T extends true> = T

const REQUIRED = {
  ServiceTokenSuccess: ['code', 'message', 'data'],
  ServiceTokenSuccessData: ['serviceToken', 'expiresIn'],
  ServiceTokenError: ['code', 'message'],
  CheckAddressesSuccess: ['code', 'message', 'data'],
  CheckAddressesError: ['code', 'message'],
} as const

export type KeyListsMatchTheSchemas = [
  Assert<Equal<(typeof REQUIRED.ServiceTokenSuccess)[number], RequiredKeys<Schemas['ServiceTokenSuccess']>>>,
  Assert<Equal<(typeof REQUIRED.ServiceTokenSuccessData)[number], RequiredKeys<Schemas['ServiceTokenSuccess']['data']>>>,
  Assert<Equal<(typeof REQUIRED.ServiceTokenError)[number], RequiredKeys<Schemas['ServiceTokenError']>>>,
  Assert<Equal<(typeof REQUIRED.CheckAddressesSuccess)[number], RequiredKeys<Schemas['CheckAddressesSuccess']>>>,
  Assert<Equal<(typeof REQUIRED.CheckAddressesError)[number], RequiredKeys<Schemas['CheckAddressesError']>>>,
  // The property types the checker tests for:
  Assert<Equal<Schemas['SuccessCode'], 1000>>,
  Assert<Equal<Schemas['ServiceTokenSuccess']['data'], { serviceToken: string; expiresIn: number }>>,
  Assert<Equal<Schemas['ServiceTokenErrorCode'], string>>,
  Assert<Equal<Schemas['CheckAddressesErrorCode'], string>>,
  Assert<Equal<Schemas['CheckAddressesSuccess']['data'], { [key: string]: string[] }>>,
  Assert<Equal<Schemas['ServiceTokenSuccess']['message'], string>>,
]

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function missing(value: Record<string, unknown>, keys: readonly string[], where: string): string[] {
  return keys.filter((key) => !(key in value)).map((key) => `${where}.${key} is required`)
}

function successCode(value: unknown, where: string): string[] {
  return value === 1000 ? [] : [`${where} must be the number 1000, got ${JSON.stringify(value)}`]
}

function errorEnvelope(value: unknown, required: readonly string[]): string[] {
  if (!isObject(value)) return ['body must be an object']
  const problems = missing(value, required, 'body')
  if ('code' in value && typeof value.code !== 'string') problems.push('body.code must be a string')
  if ('message' in value && typeof value.message !== 'string') problems.push('body.message must be a string')
  return problems
}

const CHECKS: { [K in ResponseSchema]: (value: unknown) => string[] } = {
  ServiceTokenSuccess(value) {
    if (!isObject(value)) return ['body must be an object']
    const problems = missing(value, REQUIRED.ServiceTokenSuccess, 'body')
    if ('code' in value) problems.push(...successCode(value.code, 'body.code'))
    if ('message' in value && typeof value.message !== 'string') problems.push('body.message must be a string')
    if (!('data' in value)) return problems
    const { data } = value
    if (!isObject(data)) return [...problems, 'body.data must be an object']
    problems.push(...missing(data, REQUIRED.ServiceTokenSuccessData, 'body.data'))
    if ('serviceToken' in data && (typeof data.serviceToken !== 'string' || data.serviceToken.length < 1)) {
      problems.push('body.data.serviceToken must be a string of length ≥ 1')
    }
    if ('expiresIn' in data && (typeof data.expiresIn !== 'number' || !(data.expiresIn > 0))) {
      problems.push('body.data.expiresIn must be a number > 0')
    }
    return problems
  },
  ServiceTokenError: (value) => errorEnvelope(value, REQUIRED.ServiceTokenError),
  CheckAddressesSuccess(value) {
    if (!isObject(value)) return ['body must be an object']
    const problems = missing(value, REQUIRED.CheckAddressesSuccess, 'body')
    if ('code' in value) problems.push(...successCode(value.code, 'body.code'))
    if ('message' in value && typeof value.message !== 'string') problems.push('body.message must be a string')
    if (!('data' in value)) return problems
    const { data } = value
    if (!isObject(data)) return [...problems, 'body.data must be an object']
    for (const [unionid, addresses] of Object.entries(data)) {
      if (!Array.isArray(addresses) || !addresses.every((address) => typeof address === 'string')) {
        problems.push(`body.data.${unionid} must be an array of strings`)
      }
    }
    return problems
  },
  CheckAddressesError: (value) => errorEnvelope(value, REQUIRED.CheckAddressesError),
}

/** The problems of `value` against one response schema; empty when it conforms. */
function schemaProblems(schema: ResponseSchema, value: unknown): string[] {
  return CHECKS[schema](value)
}

/** Whether `value` conforms to `schema`, narrowing it to the generated type. */
function conforms<K extends ResponseSchema>(schema: K, value: unknown): value is Schemas[K] {
  return CHECKS[schema](value).length === 0
}

type Operation = 'serviceToken' | 'checkAddresses'

/**
 * The problems of a whole response against openapi.yaml: a JSON body; HTTP 200 → exactly one of the
 * `oneOf` (success, error); any other status → the `default` error envelope.
 */
async function responseProblems(operation: Operation, response: Response): Promise<string[]> {
  const type = response.headers.get('content-type') ?? ''
  if (!type.startsWith('application/json')) return [`content-type must be application/json, got "${type}"`]
  let body: unknown
  try {
    body = JSON.parse(await response.text())
  } catch {
    return ['body is not valid JSON']
  }
  const [success, error] =
    operation === 'serviceToken'
      ? (['ServiceTokenSuccess', 'ServiceTokenError'] as const)
      : (['CheckAddressesSuccess', 'CheckAddressesError'] as const)
  if (response.status !== 200) return schemaProblems(error, body).map((problem) => `default: ${problem}`)
  const matches = [success, error].filter((schema) => conforms(schema, body))
  if (matches.length === 1) return []
  if (matches.length === 2) return ['body matches both members of oneOf']
  return [...schemaProblems(success, body), ...schemaProblems(error, body)].map((problem) => `oneOf: ${problem}`)
}

export { conforms, responseProblems, schemaProblems }
export type { Operation, ResponseSchema }
