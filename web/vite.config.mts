import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/** The dashboard's build: web/ → dist/web, fingerprinted assets under dist/web/assets. */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: true,
    reportCompressedSize: false,
  },
  server: {
    // `npx vite web` during development: the API and exec sessions come from a gateway on :4000.
    proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true }, '/exec': { target: 'http://127.0.0.1:4000', ws: true } },
  },
});
