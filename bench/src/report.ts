/** Turns a bench result into the Markdown tables and the latency-vs-throughput SVG chart. */
import { IDLE_HOLD_MS, type IdleResult } from './idle.js';
import type { StepResult, SweepResult } from './sweep.js';

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  node: string;
  redis: string;
  os: string;
}

export interface ShapeResult {
  id: string;
  label: string;
  channels: number;
  members: number;
  senders: string;
  systems: SweepResult[];
}

export interface BenchResult {
  date: string;
  mode: 'full' | 'quick';
  durationSeconds: number;
  machine: Machine;
  load: { loadgens: number; rampMs: number; stepMs: number; repeats: number; p99BoundMs: number; keepUpP50Ms: number; targetRate: number };
  shapes: ShapeResult[];
  idle: IdleResult[];
  /** Per shape: ours against each peer (max sustained and kept-up rates), and p99 and CPU at the target rate against the redis-adapter peer. */
  ratios: Record<string, Record<string, number | null>>;
}

const num = (x: number): string => x.toLocaleString('en-US');
const ms = (x: number | undefined): string => (x === undefined ? '–' : `${x.toFixed(1)} ms`);

/** The step a sweep ran at `rate`, if any. */
export function atRate(s: SweepResult | undefined, rate: number): StepResult | undefined {
  return s?.steps.find((step) => step.rate === rate);
}

/** CPU seconds per 1,000 messages of everything but the load generators (servers, workers, Redis). */
export function serverCpu(step: StepResult | undefined): number | undefined {
  if (!step) return undefined;
  return Object.entries(step.cpuPer1000ByRole).filter(([role]) => role !== 'load generator').reduce((a, [, v]) => a + v, 0);
}

const div = (a: number | null | undefined, b: number | null | undefined): number | null =>
  (a !== null && a !== undefined && b !== null && b !== undefined && b > 0 ? a / b : null);

/** The ratios the targets are stated in, for one shape. */
export function shapeRatios(shape: ShapeResult, targetRate: number): Record<string, number | null> {
  const find = (id: string): SweepResult | undefined => shape.systems.find((s) => s.id === id);
  const ours = find('ours');
  const out: Record<string, number | null> = {};
  for (const peer of ['baseline', 'streams', 'ceiling']) {
    out[`sustained/${peer}`] = div(ours?.maxSustained?.messagesPerSecond, find(peer)?.maxSustained?.messagesPerSecond);
    out[`keptUp/${peer}`] = div(ours?.maxKeptUp, find(peer)?.maxKeptUp);
  }
  out['p99AtTarget/baseline'] = div(atRate(ours, targetRate)?.p99Ms, atRate(find('baseline'), targetRate)?.p99Ms);
  out['cpuAtTarget/baseline'] = div(serverCpu(atRate(ours, targetRate)), serverCpu(atRate(find('baseline'), targetRate)));
  return out;
}

const PEER_COLUMNS: Array<[string, string]> = [['baseline', 'ours / redis-adapter'], ['streams', 'ours / streams'], ['ceiling', 'ours / ceiling']];

export function markdown(r: BenchResult): string {
  const lines: string[] = [];
  const t = r.load.targetRate;
  lines.push(`Run ${r.date} (${r.mode}, ${Math.round(r.durationSeconds)} s) on ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ` +
    `${r.machine.os}, Node ${r.machine.node}, Redis ${r.machine.redis}. Everything shares the machine: Redis, the servers and the load generators.`);
  lines.push('');
  lines.push(`Open loop, ${r.load.loadgens} load-generator processes; each rate runs ${r.load.repeats} × ${r.load.stepMs / 1000} s and is reported by the median ` +
    `(p99 spread in brackets); the first ${r.load.rampMs / 1000} s of each run is sent but not timed. A rate **holds** when the median p99 ≤ ${r.load.p99BoundMs} ms ` +
    `and no run lost or doubled a message; a system **keeps up** when the median p50 ≤ ${r.load.keepUpP50Ms} ms and nothing is lost ` +
    '(no growing backlog). Every member checks that it receives its channel\'s events in `seq` order; a system that breaks that order is marked ' +
    '(**out of order**), not excluded. Latency is client send → member receive.');
  for (const shape of r.shapes) {
    const cols = shape.systems;
    const find = (id: string): SweepResult | undefined => cols.find((s) => s.id === id);
    const ours = find('ours');
    const peers = PEER_COLUMNS.filter(([id]) => find(id) && ours);
    lines.push('');
    lines.push(`### ${shape.label}`);
    lines.push('');
    lines.push(`| | ${cols.map((c) => c.label).join(' | ')} |${peers.map(([, h]) => ` ${h} |`).join('')}`);
    lines.push(`|---|${cols.map(() => '---:').join('|')}|${peers.map(() => '---:|').join('')}`);
    const row = (name: string, cell: (c: SweepResult) => string, value?: (c: SweepResult | undefined) => number | null | undefined): void => {
      lines.push(`| ${name} | ${cols.map(cell).join(' | ')} |${peers.map(([id]) => {
        const v = value ? div(value(ours), value(find(id))) : null;
        return ` ${v === null ? '–' : `${v.toFixed(2)}×`} |`;
      }).join('')}`);
    };
    row(`Max sustained msg/s (p99 ≤ ${r.load.p99BoundMs} ms, none lost)`, (c) => (c.maxSustained ? num(c.maxSustained.messagesPerSecond) : 'none'),
      (c) => c?.maxSustained?.messagesPerSecond);
    row(`Max msg/s kept up with (p50 ≤ ${r.load.keepUpP50Ms} ms, none lost)`, (c) => (c.maxKeptUp ? num(c.maxKeptUp) : 'none'), (c) => c?.maxKeptUp);
    row(`p50 at ${num(t)} msg/s`, (c) => ms(atRate(c, t)?.p50Ms), (c) => atRate(c, t)?.p50Ms);
    row(`p99 at ${num(t)} msg/s (spread)`, (c) => { const s = atRate(c, t); return s ? `${ms(s.p99Ms)} (${s.p99SpreadMs.map((v) => v.toFixed(0)).join('–')})` : '–'; },
      (c) => atRate(c, t)?.p99Ms);
    row(`Server CPU s per 1,000 msgs at ${num(t)} msg/s (servers + Redis)`, (c) => serverCpu(atRate(c, t))?.toFixed(3) ?? '–', (c) => serverCpu(atRate(c, t)));
    row('Order', (c) => {
      const bad = c.steps.reduce((a, s) => a + s.outOfOrder, 0);
      return c.id === 'ceiling' ? 'no seq' : bad === 0 ? 'in order' : `**${num(bad)} out of order**`;
    });
    const counterNames = [...new Set(cols.flatMap((c) => Object.keys(atRate(c, t)?.perSecond ?? {})))];
    for (const name of counterNames) row(`${name}/s at ${num(t)} msg/s`, (c) => { const v = atRate(c, t)?.perSecond?.[name]; return v === undefined ? '–' : num(v); });
  }
  if (r.idle.length > 0) {
    lines.push('');
    lines.push(`### Idle connections (${num(r.idle[0]?.connections ?? 0)} on one server, each in one of ${r.idle[0]?.channels ?? 0} channels)`);
    lines.push('');
    lines.push(`| | ${r.idle.map((i) => i.label).join(' | ')} |`);
    lines.push(`|---|${r.idle.map(() => '---:').join('|')}|`);
    lines.push(`| Memory per idle connection (after ${IDLE_HOLD_MS / 1000} s idle) | ${r.idle.map((i) => `${(i.bytesPerConnection / 1024).toFixed(1)} KB`).join(' | ')} |`);
    const kb = (b: number | undefined): string => (b === undefined ? '–' : `${(b / 1024).toFixed(1)} KB`);
    lines.push(`| Memory per idle connection (just after the last connect) | ${r.idle.map((i) => kb(i.bytesPerConnectionConnected)).join(' | ')} |`);
  }
  for (const shape of r.shapes) {
    for (const c of shape.systems) {
      lines.push('');
      lines.push(`**${c.label}, ${shape.id}**: every rate (median of ${r.load.repeats}; CPU is seconds per 1,000 messages, by process role)`);
      lines.push('');
      const roles = [...new Set(c.steps.flatMap((s) => Object.keys(s.cpuPer1000ByRole)))];
      lines.push(`| msg/s | deliveries/s | p50 | p99 (spread) | max | lost | held | kept up | ${roles.map((role) => `CPU ${role}`).join(' | ')} |`);
      lines.push(`|---:|---:|---:|---:|---:|---:|:---:|:---:|${roles.map(() => '---:').join('|')}|`);
      for (const s of c.steps) {
        lines.push(`| ${num(s.rate)} | ${num(s.deliveriesPerSecond)} | ${ms(s.p50Ms)} | ${ms(s.p99Ms)} (${s.p99SpreadMs.map((v) => v.toFixed(0)).join('–')}) | ${ms(s.maxMs)} | ` +
          `${num(s.lost)}${s.outOfOrder ? ` (${num(s.outOfOrder)} out of order)` : ''} | ${s.held ? 'yes' : 'no'} | ${s.keptUp ? 'yes' : 'no'} | ` +
          `${roles.map((role) => (s.cpuPer1000ByRole[role] ?? 0).toFixed(3)).join(' | ')} |`);
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#57606a'];

/** p50 (dashed) and p99 (solid) latency against offered rate, log-scale latency axis. */
export function chart(r: BenchResult, shape: ShapeResult): string {
  const W = 800; const H = 420; const left = 70; const right = 230; const top = 30; const bottom = 50;
  const pw = W - left - right; const ph = H - top - bottom;
  const maxRate = Math.max(1000, ...shape.systems.flatMap((s) => s.steps.map((x) => x.rate)));
  const xMax = Math.ceil(maxRate / 2000) * 2000;
  const yMin = 0.5; const yMax = 2000;
  const x = (rate: number): number => left + (rate / xMax) * pw;
  const y = (v: number): number => top + ph - (Math.log10(Math.min(yMax, Math.max(yMin, v)) / yMin) / Math.log10(yMax / yMin)) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="18" font-size="14" font-weight="bold">End-to-end latency vs offered load (${escapeXml(shape.label)})</text>`);
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
  shape.systems.forEach((s, i) => {
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
  out.push(`<text x="${left + pw + 14}" y="${top + 10 + shape.systems.length * 62 + 8}" fill="#666">hollow: step did not hold</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
