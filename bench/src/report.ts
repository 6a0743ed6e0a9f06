/** Turns a bench result into the Markdown tables and the latency-vs-throughput SVG chart. */
import type { IdleResult } from './idle.js';
import type { StepResult, SweepResult } from './sweep.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  redis: string;
  os: string;
}

export interface BenchResult {
  date: string;
  mode: 'full' | 'quick';
  durationSeconds: number;
  machine: Machine;
  load: { channels: number; members: number; loadgens: number; rampMs: number; stepMs: number; longStepMs: number; p99BoundMs: number; targetRate: number };
  systems: SweepResult[];
  idle: IdleResult[];
  ratios: { throughput: number | null; cpuPer1000AtTarget: number | null };
}

const num = (x: number): string => x.toLocaleString('en-US');
const ms = (x: number | undefined): string => (x === undefined ? '–' : `${x.toFixed(1)} ms`);

/** The step a sweep ran at `rate`, if any. */
export function atRate(s: SweepResult, rate: number): StepResult | undefined {
  return s.steps.find((step) => step.rate === rate);
}

/** CPU seconds per 1,000 messages of everything but the load generators (servers, workers, Redis). */
export function serverCpu(step: StepResult | undefined): number | undefined {
  if (!step) return undefined;
  return Object.entries(step.cpuPer1000ByRole).filter(([role]) => role !== 'load generator').reduce((a, [, v]) => a + v, 0);
}

export function markdown(r: BenchResult): string {
  const [ours, baseline] = [r.systems.find((s) => s.id === 'ours'), r.systems.find((s) => s.id === 'baseline')];
  const others = r.systems.filter((s) => s !== ours && s !== baseline);
  const cols = [ours, baseline, ...others].filter((s): s is SweepResult => s !== undefined);
  const lines: string[] = [];
  lines.push(`Run ${r.date} (${r.mode}, ${Math.round(r.durationSeconds)} s) on ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ` +
    `${r.machine.os}, Node ${r.machine.node}, Redis ${r.machine.redis}. Everything shares the machine: Redis, the servers and the load generators.`);
  lines.push('');
  lines.push(`Load: ${r.load.channels} channels × ${r.load.members} members (${num(r.load.channels * r.load.members)} connections over ${r.load.loadgens} load-generator ` +
    `processes; every member sends in turn), open loop, ${r.load.stepMs / 1000} s per step${r.load.longStepMs !== r.load.stepMs ? ` (${r.load.longStepMs / 1000} s at ${num(r.load.targetRate)} msg/s)` : ''}. ` +
    `The first ${r.load.rampMs / 1000} s of each step is sent but not timed (steady state, for both systems). ` +
    `A step holds when p99 ≤ ${r.load.p99BoundMs} ms and every message reached every member. Latency is client send → member receive, through the queue.`);
  lines.push('');
  const t = r.load.targetRate;
  lines.push(`| | ${cols.map((c) => c.label).join(' | ')} | ours / baseline |`);
  lines.push(`|---|${cols.map(() => '---:').join('|')}|---:|`);
  const ratio = (a: number | undefined, b: number | undefined, digits = 2): string =>
    (a !== undefined && b !== undefined && b > 0 ? `${(a / b).toFixed(digits)}×` : '–');
  lines.push(`| Max sustained msg/s (p99 ≤ ${r.load.p99BoundMs} ms, none lost) | ${cols.map((c) => (c.maxSustained ? num(c.maxSustained.messagesPerSecond) : 'none')).join(' | ')} | ` +
    `${ratio(ours?.maxSustained?.messagesPerSecond, baseline?.maxSustained?.messagesPerSecond)} |`);
  lines.push(`| Deliveries/s at that rate | ${cols.map((c) => (c.maxSustained ? num(c.maxSustained.deliveriesPerSecond) : '–')).join(' | ')} | ` +
    `${ratio(ours?.maxSustained?.deliveriesPerSecond, baseline?.maxSustained?.deliveriesPerSecond)} |`);
  for (const [name, key] of [['p50', 'p50Ms'], ['p99', 'p99Ms'], ['max', 'maxMs']] as const) {
    lines.push(`| ${name} at ${num(t)} msg/s | ${cols.map((c) => ms(atRate(c, t)?.[key])).join(' | ')} | ${ratio(ours && atRate(ours, t)?.[key], baseline && atRate(baseline, t)?.[key])} |`);
  }
  lines.push(`| Server CPU s per 1,000 msgs at ${num(t)} msg/s (servers + Redis) | ${cols.map((c) => serverCpu(atRate(c, t))?.toFixed(3) ?? '–').join(' | ')} | ` +
    `${ratio(serverCpu(ours && atRate(ours, t)), serverCpu(baseline && atRate(baseline, t)))} |`);
  const counterNames = [...new Set(cols.flatMap((c) => Object.keys(atRate(c, t)?.perSecond ?? {})))];
  for (const name of counterNames) {
    lines.push(`| ${name}/s at ${num(t)} msg/s | ${cols.map((c) => { const v = atRate(c, t)?.perSecond?.[name]; return v === undefined ? '–' : num(v); }).join(' | ')} | – |`);
  }
  const idleOf = (id: string | undefined): IdleResult | undefined => r.idle.find((i) => i.id === id);
  lines.push(`| Memory per idle connection (${num(r.idle[0]?.connections ?? 0)} on one server) | ${cols.map((c) => {
    const i = idleOf(c.id);
    return i ? `${(i.bytesPerConnection / 1024).toFixed(1)} KB` : '–';
  }).join(' | ')} | ${ratio(idleOf(ours?.id)?.bytesPerConnection, idleOf(baseline?.id)?.bytesPerConnection)} |`);
  for (const c of cols) {
    const missed = c.steps.filter((s) => !s.held && c.maxSustained && s.rate < c.maxSustained.messagesPerSecond);
    if (missed.length > 0) {
      lines.push('');
      lines.push(`${c.label}: ${missed.map((s) => `${num(s.rate)} msg/s (p99 ${ms(s.p99Ms)}, max ${ms(s.maxMs)})`).join(', ')} did not hold although a higher rate did: ` +
        'one pause of ~100 ms anywhere on the machine fails a step.');
    }
  }
  for (const c of cols) {
    lines.push('');
    lines.push(`**${c.label}**: every step (CPU is seconds per 1,000 messages, by process role)`);
    lines.push('');
    const roles = [...new Set(c.steps.flatMap((s) => Object.keys(s.cpuPer1000ByRole)))];
    lines.push(`| msg/s | deliveries/s | p50 | p99 | max | lost | held | ${roles.map((role) => `CPU ${role}`).join(' | ')} |`);
    lines.push(`|---:|---:|---:|---:|---:|---:|:---:|${roles.map(() => '---:').join('|')}|`);
    for (const s of c.steps) {
      lines.push(`| ${num(s.rate)} | ${num(s.deliveriesPerSecond)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} | ${ms(s.maxMs)} | ${num(s.lost)} | ${s.held ? 'yes' : 'no'} | ` +
        `${roles.map((role) => (s.cpuPer1000ByRole[role] ?? 0).toFixed(3)).join(' | ')} |`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700'];

/** p50 (dashed) and p99 (solid) latency against offered rate, log-scale latency axis. */
export function chart(r: BenchResult): string {
  const W = 800; const H = 420; const left = 70; const right = 230; const top = 30; const bottom = 50;
  const pw = W - left - right; const ph = H - top - bottom;
  const maxRate = Math.max(1000, ...r.systems.flatMap((s) => s.steps.map((x) => x.rate)));
  const xMax = Math.ceil(maxRate / 2000) * 2000;
  const yMin = 0.5; const yMax = 2000;
  const x = (rate: number): number => left + (rate / xMax) * pw;
  const y = (v: number): number => top + ph - (Math.log10(Math.min(yMax, Math.max(yMin, v)) / yMin) / Math.log10(yMax / yMin)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">End-to-end latency vs offered load (${r.load.channels} channels × ${r.load.members} members)</text>`);
  for (const v of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000]) {
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`);
  }
  const xStep = [500, 1000, 2000, 5000, 10_000].find((step) => xMax / step <= 10) ?? xMax / 8;
  for (let v = 0; v <= xMax; v += xStep) {
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${top}" y2="${top + ph}" stroke="#eee"/>`);
    out.push(`<text x="${x(v)}" y="${top + ph + 16}" text-anchor="middle">${num(v)}</text>`);
  }
  out.push(`<line x1="${left}" x2="${left + pw}" y1="${y(r.load.p99BoundMs)}" y2="${y(r.load.p99BoundMs)}" stroke="#888" stroke-dasharray="2,3"/>`);
  out.push(`<text x="${left + pw - 4}" y="${y(r.load.p99BoundMs) - 4}" text-anchor="end" fill="#666">p99 bound ${r.load.p99BoundMs} ms</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 10}" text-anchor="middle">offered messages/s</text>`);
  out.push(`<text x="16" y="${top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${top + ph / 2})">latency (ms, log)</text>`);
  r.systems.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    for (const [key, dash] of [['p99Ms', ''], ['p50Ms', '5,4']] as const) {
      const pts = s.steps.map((st) => `${x(st.rate).toFixed(1)},${y(st[key]).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`);
      for (const st of s.steps) {
        out.push(`<circle cx="${x(st.rate).toFixed(1)}" cy="${y(st[key]).toFixed(1)}" r="3" fill="${st.held ? color : 'white'}" stroke="${color}"/>`);
      }
    }
    const ly = top + 10 + i * 62;
    out.push(`<text x="${left + pw + 14}" y="${ly + 4}" font-weight="bold">${escapeXml(s.label)}</text>`);
    out.push(`<line x1="${left + pw + 14}" x2="${left + pw + 40}" y1="${ly + 20}" y2="${ly + 20}" stroke="${color}" stroke-width="2"/>`);
    out.push(`<text x="${left + pw + 46}" y="${ly + 24}">p99</text>`);
    out.push(`<line x1="${left + pw + 14}" x2="${left + pw + 40}" y1="${ly + 38}" y2="${ly + 38}" stroke="${color}" stroke-width="2" stroke-dasharray="5,4"/>`);
    out.push(`<text x="${left + pw + 46}" y="${ly + 42}">p50</text>`);
  });
  out.push(`<text x="${left + pw + 14}" y="${top + 10 + r.systems.length * 62 + 8}" fill="#666">hollow: step did not hold</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
