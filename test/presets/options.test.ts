import { describe, expect, it } from 'vitest'
import { decodedRefuses, ruleOf } from '../../src/http/auth-error.js'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import { anyweb, authErrorRule, dingtalk, wechat, wechatStable } from '../../src/presets/index.js'

const EMULATOR = 'http://127.0.0.1:8787'

/** The error `run` throws (it must throw). */
function thrown(run: () => unknown): Error & { code?: string; option?: string } {
  try {
    run()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a throw')
}

describe('a baseUrl spread beside a preset', () => {
  it('is refused when it differs: the token requests would still go to the preset origin', () => {
    let requests = 0
    const fetch = async (): Promise<Response> => {
      requests++
      return new Response('{}')
    }
    const options = wechat({ appid: 'wx1', secret: 'real-secret', fetch })
    // @ts-expect-error a baseUrl other than the preset's is refused by the type too
    const error = thrown(() => createTokenManager({ ...options, baseUrl: EMULATOR }))
    expect(isServiceTokenError(error)).toBe(true)
    expect(error).toMatchObject({ name: 'ConfigurationError', code: 'ERR_INVALID_OPTION', option: 'baseUrl' })
    expect(error.message).toContain('wechat({ …, baseUrl })')
    expect(error.message).toContain('https://api.weixin.qq.com')
    expect(error.message).not.toContain('real-secret')
    expect(requests).toBe(0)
  })

  it('names the preset that made the options, AnyWeb included', () => {
    // @ts-expect-error a baseUrl other than the preset's is refused by the type too
    expect(thrown(() => createTokenManager({ ...wechatStable({ appid: 'wx1', secret: 's' }), baseUrl: EMULATOR })).message).toContain('wechatStable({ …, baseUrl })')
    // @ts-expect-error a baseUrl other than the preset's is refused by the type too
    expect(thrown(() => createTokenManager({ ...dingtalk({ appKey: 'k', appSecret: 's', baseUrl: EMULATOR }), baseUrl: 'https://api.dingtalk.com' })).message).toContain('dingtalk({ …, baseUrl })')
    // @ts-expect-error a baseUrl other than the preset's is refused by the type too
    expect(thrown(() => createTokenManager({ ...anyweb({ appid: 'a', secret: 's' }), baseUrl: EMULATOR })).message).toContain('anyweb({ …, baseUrl })')
  })

  it('is accepted when it is the same origin, however spelt, and the preset given the baseUrl works', () => {
    const options = wechat({ appid: 'wx1', secret: 's', baseUrl: EMULATOR })
    // @ts-expect-error a baseUrl other than the preset's is refused by the type too
    expect(createTokenManager({ ...options, baseUrl: `${EMULATOR}/` }).baseUrl).toBe(EMULATOR)
    expect(createTokenManager(options).baseUrl).toBe(EMULATOR)
    expect(Object.keys(options).sort()).toEqual(['baseUrl', 'protocol', 'source', 'storeKey'])
  })

  it('a custom source without a preset may still take any baseUrl', () => {
    const source = async () => ({ token: 't', expiresIn: 60 })
    expect(createTokenManager({ source, baseUrl: EMULATOR }).baseUrl).toBe(EMULATOR)
  })
})

describe('authErrorRule', () => {
  it('refuses a malformed rule with a ConfigurationError naming the field', () => {
    const cases: Array<[unknown, string]> = [
      [undefined, 'rule'],
      [{}, 'field'],
      [{ field: '', codes: [1] }, 'field'],
      [{ field: 'code', codes: '40001' }, 'codes'],
      [{ field: 'code', codes: [] }, 'codes'],
      [{ field: 'code', codes: [40001, null] }, 'codes'],
      [{ field: 'code', codes: [''] }, 'codes'],
      [{ field: 'code', codes: [1], statuses: 200 }, 'statuses'],
      [{ field: 'code', codes: [1], statuses: [200.5] }, 'statuses'],
      [{ field: 'code', codes: [1], statuses: [99] }, 'statuses'],
    ]
    for (const [rule, option] of cases) {
      const error = thrown(() => authErrorRule(rule as never))
      expect(error, JSON.stringify(rule)).toMatchObject({ name: 'ConfigurationError', code: 'ERR_INVALID_OPTION', option })
      expect(error.message).toContain(`\`${option}\` of authErrorRule()`)
    }
  })

  it('matches a code by its text: 40001 and "40001" are the same code', async () => {
    const state = (body: unknown) => ({ status: 200, headers: new Headers(), url: 'http://x/', json: async () => body })
    const byText = authErrorRule({ field: 'errcode', codes: ['40001'] })
    const byNumber = authErrorRule({ field: 'errcode', codes: [40001], statuses: [200] })
    for (const rule of [byText, byNumber]) {
      expect(await rule(state({ errcode: 40001 }))).toBe(true)
      expect(await rule(state({ errcode: '40001' }))).toBe(true)
      expect(await rule(state({ errcode: 4000 }))).toBe(false)
      expect(await rule(state({ errcode: ['40001'] }))).toBe(false)
      expect(await rule(state({ errcode: null }))).toBe(false)
    }
    // The axios path judges a decoded body without the predicate: the same verdicts.
    expect(decodedRefuses(200, { errcode: 40001 }, 'application/json', ruleOf(byText))).toBe(true)
    expect(decodedRefuses(200, '{"errcode":"40001"}', 'application/json', ruleOf(byNumber))).toBe(true)
    expect(decodedRefuses(200, '{"errcode":0}', 'application/json', ruleOf(byNumber))).toBe(false)
  })
})
