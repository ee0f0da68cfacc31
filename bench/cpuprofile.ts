/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and says where the time went: self time per package
 * (node_modules/<pkg>, node: internals, this repo's files, GC) and the hottest functions.
 * Not a bench itself: availability.ts uses it for --cpu-prof.
 */
import fs from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const repoRoot = path.resolve(__dirname, '..');

function category(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? url.split('/').slice(0, 2).join('/') : url; // node:internal/http, node:events
  const file = url.replace(/^file:\/\//, '');
  const nm = file.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = file.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  return file.startsWith(repoRoot) ? path.relative(repoRoot, file) : file;
}

export interface CpuProfileSummary {
  file: string;
  sampledMs: number;
  idleMs: number;
  /** Self time per package or file, % of non-idle time. */
  byCategory: Array<{ name: string; ms: number; pct: number }>;
  topFunctions: Array<{ fn: string; where: string; ms: number; pct: number }>;
}

export function summarizeCpuProfile(file: string, top = 25): CpuProfileSummary {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  let total = 0;
  let idle = 0;
  const cats = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    total += us;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    const cat = category(url, functionName);
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const where = url ? `${cat}${cat.includes('/') || cat.startsWith('node:') ? '' : `/${path.basename(url)}`}:${lineNumber + 1}` : cat;
    const key = `${functionName}@${where}`;
    const entry = fns.get(key) ?? { fn: functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    fns.set(key, entry);
  }
  const busy = total - idle || 1;
  const ms = (us: number) => Math.round(us / 100) / 10;
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  return {
    file,
    sampledMs: ms(total),
    idleMs: ms(idle),
    byCategory: [...cats].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, us]) => ({ name, ms: ms(us), pct: pct(us) })),
    topFunctions: [...fns.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ fn: f.fn, where: f.where, ms: ms(f.us), pct: pct(f.us) })),
  };
}
