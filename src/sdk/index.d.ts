export * from '../../dist/sdk/sdk.js';
