/**
 * `npm run chat`: talk to a running platform as a WhatsApp customer would, through the local
 * simulator (WHATSAPP_CHANNEL=simulator, the development default). What you type is posted to
 * POST /api/v1/simulator/whatsapp/messages (the same inbound path as a Cloud API webhook); the
 * platform's replies are read from GET /api/v1/simulator/whatsapp/messages and printed, reply
 * buttons and lists as numbered options: typing a number sends that option (its id as replyId).
 *
 *   npm run chat                          # as a random +34 number
 *   npm run chat -- --from +34600111222 --name Lucía
 *   /image /sticker /location /audio      # send a message type the platform does not understand
 *   /quit                                 # or Ctrl-D
 *
 * The API: CHAT_URL, else PUBLIC_URL, else http://localhost:3000.
 */
import readline from 'node:readline';

type Outbound =
  | { kind: 'text'; text: string }
  | { kind: 'buttons'; text: string; buttons: Array<{ id: string; title: string }> }
  | { kind: 'list'; text: string; button: string; rows: Array<{ id: string; title: string; description?: string }> }
  | { kind: 'template'; name: string; language: string; parameters: string[] };

/** A message as the terminal shows it, and the options a number picks. */
export function renderOutbound(m: Outbound): { text: string; options: Array<{ id: string; title: string }> } {
  switch (m.kind) {
    case 'text': return { text: m.text, options: [] };
    case 'buttons': return { text: `${m.text}\n${m.buttons.map((b, i) => `  [${i + 1}] ${b.title}`).join('\n')}`, options: m.buttons };
    case 'list': return { text: `${m.text}\n  (${m.button})\n${m.rows.map((r, i) => `  [${i + 1}] ${r.title}${r.description ? ` — ${r.description}` : ''}`).join('\n')}`, options: m.rows };
    case 'template': return { text: `[template ${m.name} (${m.language})] ${m.parameters.join(' | ')}`, options: [] };
    default: return { text: JSON.stringify(m), options: [] };
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main() {
  const base = (process.env.CHAT_URL || process.env.PUBLIC_URL || `http://localhost:${process.env.PORT || 3000}`).replace(/\/+$/, '');
  const from = arg('from') || process.env.CHAT_FROM || `+3460${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
  const name = arg('name') || process.env.CHAT_NAME;
  if (!/^\+[1-9]\d{6,14}$/.test(from)) throw new Error(`--from must be an E.164 number like +34600111222, got ${from}`);
  const outboxUrl = (after: number) => `${base}/api/v1/simulator/whatsapp/messages?to=${encodeURIComponent(from)}&after=${after}&limit=200`;

  // Start after what this number was already sent.
  let lastId = 0;
  for (;;) {
    const res = await fetch(outboxUrl(lastId), { signal: AbortSignal.timeout(5000) }).catch((err: Error) => { throw new Error(`the API at ${base} does not answer (${err.message}); start it with npm start`); });
    if (res.status === 404) throw new Error(`the simulator is not enabled at ${base} (WHATSAPP_CHANNEL=simulator, outside production)`);
    const page = (await res.json()) as { data: unknown[]; lastId: number };
    if (!page.data.length) break;
    lastId = page.lastId;
  }

  let options: Array<{ id: string; title: string }> = [];
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'you> ' });
  const print = (line: string) => {
    readline.clearLine(process.stdout, 0);
    readline.cursorTo(process.stdout, 0);
    console.log(line);
    rl.prompt(true);
  };
  console.log(`WhatsApp simulator at ${base}, as ${from}${name ? ` (${name})` : ''}. Type a message; a number picks an option; /image /sticker /location; /quit.`);

  let polling = false;
  const timer = setInterval(async () => {
    if (polling) return;
    polling = true;
    try {
      const res = await fetch(outboxUrl(lastId), { signal: AbortSignal.timeout(5000) });
      if (res.ok) {
        const page = (await res.json()) as { data: Array<{ id: number; message: Outbound }>; lastId: number };
        for (const item of page.data) {
          const shown = renderOutbound(item.message);
          if (shown.options.length) options = shown.options;
          print(`spirit> ${shown.text.replace(/\n/g, '\n        ')}`);
        }
        lastId = page.lastId;
      }
    } catch { /* the API restarting: try again */ } finally {
      polling = false;
    }
  }, 700);

  const send = async (body: Record<string, unknown>) => {
    const res = await fetch(`${base}/api/v1/simulator/whatsapp/messages`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ from, ...(name ? { name } : {}), ...body }), signal: AbortSignal.timeout(10_000),
    }).catch((err: Error) => ({ ok: false, status: 0, text: async () => err.message }) as Response);
    if (!res.ok) print(`(not sent: ${res.status} ${await res.text()})`);
  };

  rl.prompt();
  rl.on('line', async (line) => {
    const text = line.trim();
    if (!text) return rl.prompt();
    if (text === '/quit') return rl.close();
    const command = /^\/([a-z_]+)$/.exec(text);
    const n = /^\d{1,2}$/.test(text) ? Number(text) : 0;
    if (command) await send({ type: command[1] });
    else if (n >= 1 && n <= options.length) await send({ replyId: options[n - 1].id, replyTitle: options[n - 1].title });
    else await send({ text });
    rl.prompt();
  });
  rl.on('close', () => {
    clearInterval(timer);
    console.log('');
    process.exit(0);
  });
}

if (require.main === module) {
  main().catch((err) => {
    console.error(`chat: ${(err as Error).message}`);
    process.exit(1);
  });
}
