/**
 * The browser page's files (built by scripts/build-web.mjs into dist/web/), read once at start
 * and served from memory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Asset { body: Buffer; type: string; cache: string }

const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));
const FILES: Record<string, { file: string; type: string; cache: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8', cache: 'no-cache' },
  '/index.html': { file: 'index.html', type: 'text/html; charset=utf-8', cache: 'no-cache' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8', cache: 'no-cache' },
  '/app.js.map': { file: 'app.js.map', type: 'application/json; charset=utf-8', cache: 'no-cache' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8', cache: 'no-cache' },
};

const MISSING = Buffer.from('<!doctype html><title>Chat</title><p>The chat page is not built: run <code>npm run build</code>.</p>');

export function loadWebAssets(dir: string = WEB_DIR): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const [path, f] of Object.entries(FILES)) {
    const file = `${dir}${f.file}`;
    if (existsSync(file)) assets.set(path, { body: readFileSync(file), type: f.type, cache: f.cache });
  }
  if (!assets.has('/')) assets.set('/', { body: MISSING, type: 'text/html; charset=utf-8', cache: 'no-cache' });
  return assets;
}
