import { defineConfig } from "vite";

// Built once (`make playground`) into ../dist, served by the API at / and /playground/.
export default defineConfig({
  base: "/playground/",
  build: { outDir: "../dist", emptyOutDir: true, assetsDir: "assets", chunkSizeWarningLimit: 800 },
});
