// Plain Vite, no plugins. The appkeys browser entry loads its .wasm with
// `new URL("…_bg.wasm", import.meta.url)`; Vite emits that file as an asset in `vite build`.
// Pre-bundling would move the entry away from its .wasm in `vite dev`, so it is excluded.
export default {
  optimizeDeps: { exclude: ["appkeys"] },
  build: { target: "es2022" },
};
