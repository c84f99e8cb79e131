import type { ClientRequest, IncomingMessage } from 'node:http';
import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

// The server (packages/server) listens on 8888 by default; `vite` proxies the API to it, websockets included.
const target = process.env.DEEPFORGE_SERVER ?? 'http://127.0.0.1:8888';

/**
 * The server takes changes and WebSockets only from its own origin (docs/security.md). A page of this dev server
 * is its own origin under another port: its requests are passed on as the server's own, and nothing else is, so
 * the proxy is no way around the check for pages of other sites.
 */
function asServerOrigin(proxyReq: ClientRequest, req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin === undefined || req.headers.host === undefined) return;
  try {
    if (new URL(origin).host === req.headers.host) proxyReq.setHeader('origin', new URL(target).origin);
  } catch {
    // An origin that does not parse goes on as it is, and the server refuses it.
  }
}

export default defineConfig({
  plugins: [react()],
  resolve: {
    // Workspace packages are read from their TypeScript sources: no `tsc -b` needed before `vite`.
    conditions: ['source', ...defaultClientConditions],
    // One Yjs for the document, the provider and the CodeMirror binding (two copies break `instanceof`).
    dedupe: ['yjs', 'y-protocols', 'lib0', 'react', 'react-dom'],
  },
  server: {
    port: 5173,
    proxy: {
      '/api': {
        target,
        changeOrigin: true,
        ws: true,
        configure: (proxy) => {
          proxy.on('proxyReq', asServerOrigin);
          proxy.on('proxyReqWs', asServerOrigin);
        },
      },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 900,
    rolldownOptions: {
      output: {
        // Long-lived vendor chunks; the editors (CodeMirror, uPlot, the graph) come with their lazy routes.
        codeSplitting: {
          groups: [
            { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|react-router)[\\/]/ },
            { name: 'mantine', test: /node_modules[\\/]@mantine[\\/]/ },
            { name: 'yjs', test: /node_modules[\\/](yjs|lib0|y-protocols|@hocuspocus)[\\/]/ },
            // Lazy: loaded with the first code editor / graph / chart.
            {
              name: 'codemirror',
              // marked renders the language server's Markdown (@codemirror/lsp-client): left to the default chunking
              // it landed in the entry chunk, which imports this one, and was not yet defined when this one ran.
              test: /node_modules[\\/](@codemirror|y-codemirror\.next|style-mod|w3c-keyname|crelt|marked|@lezer[\\/]yaml)[\\/]/,
              // Not the Lezer parser core: the operation parser (eager) uses it too.
              includeDependenciesRecursively: false,
            },
            { name: 'graph', test: /node_modules[\\/](@xyflow|d3-[a-z]+|@dagrejs|classcat|zustand)[\\/]/ },
          ],
        },
      },
    },
  },
});
