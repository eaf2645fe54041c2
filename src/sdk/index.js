// The sdk is compiled with the rest of src/ (tsc -b); this file only makes it importable as @layercake/sdk.
export * from '../../dist/sdk/sdk.js';
