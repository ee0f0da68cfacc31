/** Prometheus metrics for the API process (GET /metrics). */
import client from 'prom-client';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry, prefix: 'spirit_api_' });

export const httpRequestDuration = new client.Histogram({
  name: 'spirit_http_request_duration_seconds',
  help: 'HTTP request latency by route template and status',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const authFailures = new client.Counter({
  name: 'spirit_auth_failures_total',
  help: 'Rejected logins and tokens, by reason',
  labelNames: ['reason'],
  registers: [registry],
});
