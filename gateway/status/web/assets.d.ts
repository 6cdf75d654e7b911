/** CSS files are bundled by esbuild (scripts/build.mjs) into the page's stylesheet. */
declare module '*.css';
