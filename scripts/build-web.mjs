#!/usr/bin/env node
/**
 * Builds the browser page: type-checks push-server/web with tsc, bundles app.ts with esbuild,
 * and copies index.html and style.css, all into push-server/dist/web/ (served by push servers).
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const WEB = join(ROOT, 'push-server', 'web');
const OUT = join(ROOT, 'push-server', 'dist', 'web');

execFileSync(join(ROOT, 'node_modules', '.bin', 'tsc'), ['-p', join(WEB, 'tsconfig.json')], { stdio: 'inherit' });
mkdirSync(OUT, { recursive: true });
await build({
  entryPoints: [join(WEB, 'app.ts')],
  outfile: join(OUT, 'app.js'),
  bundle: true,
  format: 'esm',
  target: ['es2022'],
  minify: true,
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
});
for (const f of ['index.html', 'style.css']) copyFileSync(join(WEB, f), join(OUT, f));
