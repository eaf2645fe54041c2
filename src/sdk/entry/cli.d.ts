export * from '../../../dist/sdk/cli.js';
