/** Reading one metric from a process's Prometheus text. */

/**
 * The sum of every sample of metric `name` at `url` (only those whose labels contain `label`,
 * e.g. `code="too_large"`, when given); 0 when it has none yet.
 */
export async function scrapeCounter(url: string, name: string, headers: Record<string, string> = {}, label?: string): Promise<number> {
  const res = await fetch(url, { headers });
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  let sum = 0;
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (m && m[1] === name && (label === undefined || (m[2] ?? '').includes(label))) sum += Number(m[3]);
  }
  return sum;
}

/** Member deliveries that the push servers had to read from the store (every route: stream, check, resync). */
export async function gapFillDeliveries(pushServers: readonly { httpUrl: string }[]): Promise<number> {
  let n = 0;
  for (const p of pushServers) n += await scrapeCounter(`${p.httpUrl}/metrics`, 'chat_gap_fill_deliveries_total');
  return n;
}
