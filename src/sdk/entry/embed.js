// The sdk is compiled with the rest of src/ (tsc -b); this file only makes its entry point importable as @layercake/sdk/embed.
export * from '../../../dist/sdk/embed.js';
