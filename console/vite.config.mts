/**
 * The operator console's build: served by the API under /console, so every asset URL starts
 * there. Screens are split off by React.lazy; the first screen carries React, Mantine's core,
 * TanStack Query and the router only. `npm run console:dev` proxies /api to a running API.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: path.dirname(fileURLToPath(import.meta.url)),
  base: '/console/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { '/api': process.env.CONSOLE_API ?? 'http://localhost:3000' },
  },
});
