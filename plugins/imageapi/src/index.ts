/** @layercake/plugin-imageapi: the ImageAPI service, its client, and the imageset module. */
export {imagesetModule, imagesetConfig} from './module/imageset.js';
export {rollModule, rollExtension, type RollRecord} from './roll/record.js';
export {imagesetExtension, IMAGESET_STATES, type Image, type ImageSpec, type ImageSetState} from './module/extension.js';
export {containerRequest, containerDigest, specDigest} from './module/spec.js';
export {ImageApiService, API_BASE, API_VERSION} from './service/service.js';
export {LINUX_MOUNTS_ADDON, LINUX_MOUNTS_FILE} from './service/syscalls.js';
export type {ServiceOptions} from './service/options.js';
export {startServer, buildApp, parseListen, type RunningServer} from './service/server.js';
export {ImageApiClient, ImageApiError} from './client.js';
export {openApiDocument} from './api/openapi.js';
export type {ApiAttach, ApiContainer, ApiMount, ApiInfo} from './api/models.js';
export {Catalogue, refOf, type CatalogueEntry} from './catalogue/catalogue.js';
export {httpSource} from './catalogue/config.js';
