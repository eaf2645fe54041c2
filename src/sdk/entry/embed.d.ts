export * from '../../../dist/sdk/embed.js';
