/**
 * A local stand-in for Meta's Graph API messages endpoint (WhatsApp Cloud API):
 * POST /<version>/<phone-number-id>/messages with `Authorization: Bearer <token>` and a JSON
 * body; 200 `{ messaging_product, contacts: [{ input, wa_id }], messages: [{ id: 'wamid...' }] }`
 * when the token is right; 401 with Meta's error envelope (code 190) when it is not. It records
 * every request (path, headers, parsed body) so a test can assert what was sent field by field,
 * and can be told how to answer the next requests: a status with a Graph error code (429/130429,
 * 500, 400/131047...), hang (never answer: the client's timeout), or reset after reading.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface GraphRequest {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  status: number;
  /** The wamid answered (200 only). */
  wamid?: string;
}

export type GraphAnswer =
  | { kind: 'error'; status: number; code: number; message?: string; retryAfter?: string }
  | { kind: 'hang' }
  | { kind: 'reset' };

export interface FakeGraph {
  url: string;
  token: string;
  requests: GraphRequest[];
  /** Answers the next `times` requests this way instead of accepting them. */
  answerNext(answer: GraphAnswer, times?: number): void;
  /** Accepted messages sent to this number (digits, as Meta receives them). */
  sentTo(waId: string): GraphRequest[];
  reset(): void;
  close(): Promise<void>;
}

export async function startFakeGraph(options: { token?: string } = {}): Promise<FakeGraph> {
  const token = options.token ?? 'EAAG-test-token';
  const requests: GraphRequest[] = [];
  const queue: GraphAnswer[] = [];
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: any;
      try { body = raw ? JSON.parse(raw) : undefined; } catch { body = raw; }
      const record: GraphRequest = { at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, status: 0 };
      requests.push(record);
      const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
        record.status = status;
        res.writeHead(status, { 'content-type': 'application/json', ...headers });
        res.end(JSON.stringify(payload));
      };
      if (req.method !== 'POST' || !/^\/v\d+\.\d+\/[^/]+\/messages$/.test(req.url ?? '')) {
        return send(400, { error: { message: 'Unsupported post request.', type: 'GraphMethodException', code: 100 } });
      }
      if (req.headers.authorization !== `Bearer ${token}`) {
        return send(401, { error: { message: 'Invalid OAuth access token - Cannot parse access token', type: 'OAuthException', code: 190, fbtrace_id: 'AbC' } });
      }
      const answer = queue.shift();
      if (answer?.kind === 'hang') { hanging.add(res); return; }
      if (answer?.kind === 'reset') { record.status = -1; req.socket.destroy(); return; }
      if (answer?.kind === 'error') {
        return send(answer.status, { error: { message: answer.message ?? `error ${answer.code}`, type: 'OAuthException', code: answer.code, error_data: { messaging_product: 'whatsapp', details: answer.message ?? 'details' }, fbtrace_id: 'AbC' } },
          answer.retryAfter ? { 'retry-after': answer.retryAfter } : {});
      }
      const wamid = `wamid.HBgL${crypto.randomBytes(12).toString('hex').toUpperCase()}`;
      record.wamid = wamid;
      send(200, { messaging_product: 'whatsapp', contacts: [{ input: body?.to, wa_id: body?.to }], messages: [{ id: wamid }] });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`, token, requests,
    answerNext(answer, times = 1) { for (let i = 0; i < times; i++) queue.push(answer); },
    sentTo: (waId) => requests.filter((r) => r.status === 200 && r.body?.to === waId),
    reset() { requests.length = 0; queue.length = 0; },
    close: () => new Promise<void>((resolve) => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
