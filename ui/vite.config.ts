/*
 * Builds the OAuth profiles page as a react_apps bundle for Airflow 3.1+ (see Airflow's React plugin guide):
 * one UMD file that registers its component as globalThis.AirflowPlugin and takes React, ReactDOM and the
 * JSX runtime from the host page (Airflow's UI exposes them as globals). Chakra UI is bundled: Airflow 3.1
 * does not share its copy (3.2+ do), and the bundle's theme is scoped (its own CSS variable prefix, no
 * global styles) so it never restyles Airflow's page.
 */
import { resolve } from "node:path";
import { defineConfig } from "vite";

export default defineConfig({
  build: {
    outDir: resolve(__dirname, "../airflow_oauth_connector/plugins/ui_dist"),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 1200,
    reportCompressedSize: false,
    lib: {
      entry: resolve(__dirname, "src/main.tsx"),
      formats: ["umd"],
      name: "AirflowPlugin",
      fileName: () => "oauth-profiles.js",
    },
    rollupOptions: {
      // Chakra's modules start with "use client" (for server components); meaningless in a browser bundle.
      onwarn(warning, warn) {
        if (warning.code !== "MODULE_LEVEL_DIRECTIVE") warn(warning);
      },
      external: ["react", "react-dom", "react/jsx-runtime"],
      output: {
        exports: "default",
        globals: {
          react: "React",
          "react-dom": "ReactDOM",
          "react/jsx-runtime": "ReactJSXRuntime",
        },
      },
    },
  },
  define: {
    "process.env.NODE_ENV": JSON.stringify("production"),
  },
  esbuild: {
    jsx: "automatic",
    legalComments: "none",
  },
});
