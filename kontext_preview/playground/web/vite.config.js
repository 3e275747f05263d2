import path from "node:path";
import { defineConfig } from "vite";

// Built once (`make playground`) into ../dist, served by the API at / and /playground/.
// The page uses the repository's TypeScript client and its React component
// (clients/typescript, `make client`) from their sources, with this package's React.
const client = path.resolve(import.meta.dirname, "../../../clients/typescript/src");
export default defineConfig({
  base: "/playground/",
  resolve: {
    alias: { "@kontext-preview/client/react": `${client}/react.tsx`, "@kontext-preview/client": `${client}/index.ts` },
    dedupe: ["react", "react-dom"],
  },
  build: { outDir: "../dist", emptyOutDir: true, assetsDir: "assets", chunkSizeWarningLimit: 800 },
});
