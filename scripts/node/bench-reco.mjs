// Load for one endpoint of `bench-reco` (scripts/bench-reco.sh): autocannon keeps
// `connections` requests in flight for `duration_seconds`, each request on a path drawn at
// random from the config's `paths` (a different user or media each time, as real traffic is)
// and with an API key drawn at random from $BENCH_RECO_API_KEYS (comma-separated: each key has
// a rate-limit bucket of its own, so the load is not turned into 429s).
//
//   BENCH_RECO_API_KEYS=k1,k2,... node bench-reco.mjs CONFIG.json
//
// CONFIG: {"url", "paths": [...], "connections", "duration_seconds"}. Prints one JSON object:
// counts by status, errors, and latency percentiles in ms computed from every response's own
// time (autocannon's histogram keeps whole milliseconds, too coarse for a ~1 ms API; its
// figures are included as `autocannon_latency_ms` to cross-check).

import { readFileSync } from 'node:fs'
import autocannon from 'autocannon'

function fail (message) {
  process.stderr.write(`bench-reco.mjs: ${message}\n`)
  process.exit(2)
}

const [configPath] = process.argv.slice(2)
if (!configPath) fail('usage: node bench-reco.mjs CONFIG.json')
const config = JSON.parse(readFileSync(configPath, 'utf8'))
const keys = (process.env.BENCH_RECO_API_KEYS ?? '').split(',').filter((k) => k !== '')
if (keys.length === 0) fail('BENCH_RECO_API_KEYS is not set')
const paths = config.paths
if (!Array.isArray(paths) || paths.length === 0) fail('config.paths must be a non-empty array')

// The q-quantile of sorted samples, nearest rank (as reco-bench computes its in-process ones).
function quantile (sorted, q) {
  if (sorted.length === 0) return null
  const rank = Math.min(Math.max(Math.ceil(sorted.length * q), 1), sorted.length)
  return sorted[rank - 1]
}

function pick (list) {
  return list[Math.floor(Math.random() * list.length)]
}

const latencies = []
const statuses = {}
const instance = autocannon({
  url: config.url,
  connections: config.connections,
  duration: config.duration_seconds,
  requests: [{
    method: 'GET',
    setupRequest: (request) => {
      request.path = pick(paths)
      // A fresh headers object per request (autocannon copies it before this call).
      request.headers.authorization = `Bearer ${pick(keys)}`
      return request
    }
  }]
})
instance.on('response', (_client, status, _bytes, ms) => {
  latencies.push(ms)
  statuses[status] = (statuses[status] ?? 0) + 1
})
const result = await instance

latencies.sort((a, b) => a - b)
const responses = latencies.length
const ok = Object.entries(statuses)
  .filter(([status]) => status >= 200 && status < 300)
  .reduce((sum, [, count]) => sum + count, 0)
process.stdout.write(JSON.stringify({
  duration_seconds: result.duration,
  connections: result.connections,
  responses,
  ok,
  statuses,
  errors: result.errors,
  timeouts: result.timeouts,
  requests_per_second: responses / result.duration,
  latency_ms: {
    p50: quantile(latencies, 0.5),
    p99: quantile(latencies, 0.99),
    max: quantile(latencies, 1),
    mean: responses ? latencies.reduce((a, b) => a + b, 0) / responses : null
  },
  autocannon_latency_ms: {
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max
  }
}) + '\n')
