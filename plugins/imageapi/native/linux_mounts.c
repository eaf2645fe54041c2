/*
 * Loop devices and mounts by system call, for the ImageAPI's Linux platform (src/service/syscalls.ts):
 * loop attach (LOOP_CTL_GET_FREE + LOOP_CONFIGURE), loop detach (LOOP_CLR_FD), mount(2) and umount2(2).
 *
 * Why native: the alternative is an exec of util-linux's losetup/mount/umount per step, 20-30 ms each on
 * a one-CPU VM without KVM (a dynamically linked program loading its libraries), where the system call
 * itself costs microseconds; a roll takes five of them before it answers. Node has no binding for these
 * calls and no maintained npm package does mount(2) or LOOP_CONFIGURE.
 *
 * Each call runs as napi async work on libuv's thread pool: most return in microseconds, but a mount of
 * a network file system (nfs without its helper) may block for as long as the server takes to answer.
 * Each promise rejects with an Error carrying `errno` (positive) and `step` (the call that failed, e.g.
 * "LOOP_CONFIGURE /dev/loop3"); the TypeScript side words the message (errno's name and text).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

/* Another process may take the free device between LOOP_CTL_GET_FREE and LOOP_CONFIGURE (EBUSY). */
#define ATTACH_TRIES 16

typedef enum { LOOP_ATTACH, LOOP_DETACH, MOUNT, UMOUNT } op_t;

typedef struct {
  op_t op;
  char *path, *target, *fstype, *data; /* NULL when not given */
  unsigned long flags;
  int read_only;
  /* the outcome */
  int err;
  char step[160];
  char device[32];
  napi_deferred deferred;
  napi_async_work work;
} job_t;

static void fail(job_t *j, const char *call, const char *path) {
  j->err = errno;
  snprintf(j->step, sizeof j->step, "%s %s", call, path);
}

static void loop_attach(job_t *j) {
  int file = open(j->path, (j->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
  if (file < 0) return fail(j, "open", j->path);
  int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (control < 0) {
    fail(j, "open", "/dev/loop-control");
    close(file);
    return;
  }
  struct loop_config config;
  memset(&config, 0, sizeof config);
  config.fd = (unsigned int)file;
  config.info.lo_flags = j->read_only ? LO_FLAGS_READ_ONLY : 0;
  strncpy((char *)config.info.lo_file_name, j->path, LO_NAME_SIZE - 1);
  for (int tries = 0; tries < ATTACH_TRIES; tries++) {
    int n = ioctl(control, LOOP_CTL_GET_FREE);
    if (n < 0) {
      fail(j, "LOOP_CTL_GET_FREE", "/dev/loop-control");
      break;
    }
    snprintf(j->device, sizeof j->device, "/dev/loop%d", n);
    int loop = open(j->device, O_RDWR | O_CLOEXEC);
    if (loop < 0) {
      fail(j, "open", j->device);
      break;
    }
    int configured = ioctl(loop, LOOP_CONFIGURE, &config);
    int configure_errno = errno;
    close(loop);
    if (configured == 0) {
      j->err = 0;
      break;
    }
    errno = configure_errno;
    fail(j, "LOOP_CONFIGURE", j->device);
    if (configure_errno != EBUSY) break; /* EBUSY: taken by another process since GET_FREE, ask again */
  }
  close(control);
  close(file); /* the loop device holds its own reference to the file */
}

static void loop_detach(job_t *j) {
  int loop = open(j->path, O_RDONLY | O_CLOEXEC);
  if (loop < 0) return fail(j, "open", j->path);
  /* Still open elsewhere (a lazily unmounted file system): the kernel detaches it at the last close. */
  if (ioctl(loop, LOOP_CLR_FD, 0) < 0) fail(j, "LOOP_CLR_FD", j->path);
  close(loop);
}

static void execute(napi_env env, void *data) {
  (void)env;
  job_t *j = data;
  switch (j->op) {
    case LOOP_ATTACH: loop_attach(j); break;
    case LOOP_DETACH: loop_detach(j); break;
    case MOUNT:
      if (mount(j->path, j->target, j->fstype, j->flags, j->data) < 0) fail(j, "mount", j->target);
      break;
    case UMOUNT:
      if (umount2(j->target, (int)j->flags) < 0) fail(j, "umount2", j->target);
      break;
  }
}

static void free_job(job_t *j) {
  free(j->path);
  free(j->target);
  free(j->fstype);
  free(j->data);
  free(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  job_t *j = data;
  napi_value result;
  if (status == napi_ok && j->err == 0) {
    if (j->op == LOOP_ATTACH) napi_create_string_utf8(env, j->device, NAPI_AUTO_LENGTH, &result);
    else napi_get_undefined(env, &result);
    napi_resolve_deferred(env, j->deferred, result);
  } else {
    napi_value message, err, step;
    int code = status == napi_ok ? j->err : ECANCELED;
    napi_create_string_utf8(env, j->step, NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &result);
    napi_create_int32(env, code, &err);
    napi_create_string_utf8(env, j->step, NAPI_AUTO_LENGTH, &step);
    napi_set_named_property(env, result, "errno", err);
    napi_set_named_property(env, result, "step", step);
    napi_reject_deferred(env, j->deferred, result);
  }
  napi_delete_async_work(env, j->work);
  free_job(j);
}

/* A string argument (NULL for undefined or null); *ok = 0 and a TypeError thrown for anything else. */
static char *string_arg(napi_env env, napi_value v, const char *name, int *ok) {
  napi_valuetype type;
  napi_typeof(env, v, &type);
  if (type == napi_undefined || type == napi_null) return NULL;
  size_t len = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    char msg[80];
    snprintf(msg, sizeof msg, "%s must be a string", name);
    napi_throw_type_error(env, NULL, msg);
    *ok = 0;
    return NULL;
  }
  char *s = malloc(len + 1);
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  return s;
}

/* Queues the job; returns its promise (NULL, with an exception pending, on bad arguments). */
static napi_value queue(napi_env env, job_t *j, int ok) {
  if (!ok) {
    free_job(j);
    return NULL;
  }
  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "layercake:linux_mounts", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, execute, complete, j, &j->work);
  napi_queue_async_work(env, j->work);
  return promise;
}

static job_t *new_job(napi_env env, napi_callback_info info, op_t op, napi_value *argv, size_t argc) {
  size_t n = argc;
  napi_get_cb_info(env, info, &n, argv, NULL, NULL);
  for (size_t i = n; i < argc; i++) napi_get_undefined(env, &argv[i]);
  job_t *j = calloc(1, sizeof *j);
  j->op = op;
  return j;
}

static int required(napi_env env, const char *value, const char *name) {
  if (value) return 1;
  char msg[80];
  snprintf(msg, sizeof msg, "%s is required", name);
  napi_throw_type_error(env, NULL, msg);
  return 0;
}

/* loopAttach(file, readOnly): the device's path. */
static napi_value loop_attach_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  job_t *j = new_job(env, info, LOOP_ATTACH, argv, 2);
  int ok = 1;
  j->path = string_arg(env, argv[0], "file", &ok);
  bool read_only = false;
  napi_get_value_bool(env, argv[1], &read_only);
  j->read_only = read_only;
  return queue(env, j, ok && required(env, j->path, "file"));
}

/* loopDetach(device) */
static napi_value loop_detach_js(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  job_t *j = new_job(env, info, LOOP_DETACH, argv, 1);
  int ok = 1;
  j->path = string_arg(env, argv[0], "device", &ok);
  return queue(env, j, ok && required(env, j->path, "device"));
}

/* mount(source, target, fstype, flags, data): source, fstype and data may be null. */
static napi_value mount_js(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  job_t *j = new_job(env, info, MOUNT, argv, 5);
  int ok = 1;
  j->path = string_arg(env, argv[0], "source", &ok);
  if (ok) j->target = string_arg(env, argv[1], "target", &ok);
  if (ok) j->fstype = string_arg(env, argv[2], "fstype", &ok);
  int64_t flags = 0;
  napi_get_value_int64(env, argv[3], &flags);
  j->flags = (unsigned long)flags;
  if (ok) j->data = string_arg(env, argv[4], "data", &ok);
  return queue(env, j, ok && required(env, j->target, "target"));
}

/* umount(target, flags) */
static napi_value umount_js(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  job_t *j = new_job(env, info, UMOUNT, argv, 2);
  int ok = 1;
  j->target = string_arg(env, argv[0], "target", &ok);
  int32_t flags = 0;
  napi_get_value_int32(env, argv[1], &flags);
  j->flags = (unsigned long)flags;
  return queue(env, j, ok && required(env, j->target, "target"));
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"loopAttach", NULL, loop_attach_js, NULL, NULL, NULL, napi_default, NULL},
      {"loopDetach", NULL, loop_detach_js, NULL, NULL, NULL, napi_default, NULL},
      {"mount", NULL, mount_js, NULL, NULL, NULL, napi_default, NULL},
      {"umount", NULL, umount_js, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
