// The sdk is compiled with the rest of src/ (tsc -b); this file only makes its entry point importable as @layercake/sdk.
export * from '../../../dist/sdk/index.js';
