import { describe, expect, it } from 'vitest'
import { hasRedisServer } from '../helpers/redis.js'
import { cliPath, run, systemNode } from '../helpers/processes.js'

describe('anyweb-service-token demo wechat', () => {
  it.skipIf(!hasRedisServer())('shows 40001s with per-process tokens and none, one token per lifetime, with Redis', async () => {
    const result = await run(systemNode, [cliPath(), 'demo', 'wechat', '--duration', '4', '--ttl', '4', '--overlap', '800'], { timeoutMs: 60_000 })
    expect(result.stderr).toBe('')
    expect(result.code, result.stdout).toBe(0)
    expect(result.stdout).toMatch(/ok {4}per-process caching: processes invalidated each other \([1-9]\d* × 40001\)/)
    expect(result.stdout).toMatch(/ok {4}Redis: no 40001 \(0\) and no failed call \(0\)/)
    expect(result.stdout).toMatch(/ok {4}Redis: one token request per lifetime/)
    expect(result.stdout).not.toContain('wx-demo-secret')
    expect(result.stdout.trim().split('\n').at(-1)).toBe('PASS')
  })

  it('says what it does', async () => {
    const result = await run(systemNode, [cliPath(), 'demo', 'wechat', '--help'])
    expect(result.code).toBe(0)
    expect(result.stdout).toContain('40001')
  })
})
