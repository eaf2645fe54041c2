/*
 * The TFTP sender: runs one read transfer (RFC 1350, with RFC 2347 OACK, RFC 2348 blksize and RFC 7440
 * windowsize) on a thread of its own, from a socket of its own (the transfer's TID, connected to the
 * client), and reports the outcome to JavaScript as a promise. The server (src/tftp/server.ts) answers
 * requests, checks, opens and negotiates in JavaScript; only the per-block loop is here.
 *
 * Why native: in lockstep (one ACK per block) a transfer is a chain of round trips, and each one costs a
 * Node event-loop turn (epoll, a recvmsg into a fresh buffer, a recvmsg that finds nothing, a callback, a
 * sendmsg) where tftpd-hpa spends a recv and a send. Here it is a blocking recv and a send, as tftpd-hpa
 * (which forks a process per transfer; this starts a thread), after a short busy poll on idle cores
 * (poll_recv) that saves the thread's wake-up when the network is fast.
 *
 * A thread's loop: send the window (blocks acked+1 .. acked+windowsize), wait for an ACK with the
 * retransmission timeout (doubled per retry up to 16x, reset by progress), resend the window on timeout;
 * duplicate or stale ACKs never trigger a resend (no Sorcerer's Apprentice). Block numbers roll over.
 * The bytes come from memory (a cached file or a rendered template, kept referenced until the end) or
 * are read with pread from a file descriptor the server opened (and closes once the promise settles).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define OP_DATA 3
#define OP_ACK 4
#define OP_ERROR 5
#define THREAD_STACK (256 * 1024)
#define SPIN_MISSES 8   /* busy polls in a row that found nothing before a transfer stops polling ... */
#define SPIN_REST 64    /* ... for this many waits (then it tries again) */

/* Transfers running (busy polling only lends cores that no other transfer needs). */
static atomic_int running;
static int cpus = 1;

typedef struct {
  /* what to send */
  struct sockaddr_in local, peer;
  const uint8_t *data; /* the whole file in memory, or NULL */
  int fd;              /* else the file to pread */
  uint64_t size;
  uint32_t blksize, windowsize, timeout_ms, retries, busy_poll_us;
  uint8_t *oack;
  size_t oack_len;
  /* the thread's socket; abort() shuts it down to wake a blocked recv */
  pthread_mutex_t lock;
  int sock;
  atomic_int aborted;
  /* the outcome */
  int ok, early;
  char error[200];
  uint64_t bytes;
  uint32_t retransmits;
  double ms;
  /* JavaScript side */
  napi_ref data_ref, self_ref;
  napi_deferred deferred;
  napi_threadsafe_function done;
} transfer_t;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

__attribute__((format(printf, 2, 3))) static void fail(transfer_t *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  t->ok = 0;
  vsnprintf(t->error, sizeof t->error, fmt, ap);
  va_end(ap);
}

static void send_error(transfer_t *t, const char *message) {
  uint8_t pkt[128] = {0, OP_ERROR, 0, 0};
  size_t n = strlen(message) < 100 ? strlen(message) : 100;
  memcpy(pkt + 4, message, n);
  send(t->sock, pkt, 4 + n + 1, 0);
}

/* Sends DATA block n (1-based); returns 0, an errno when the file cannot be read, -1 when it is short. */
static int send_block(transfer_t *t, uint64_t n, uint8_t *scratch) {
  uint64_t off = (n - 1) * t->blksize;
  size_t len = off >= t->size ? 0 : (t->size - off < t->blksize ? t->size - off : t->blksize);
  uint8_t hdr[4] = {0, OP_DATA, (n >> 8) & 0xff, n & 0xff};
  if (t->data) {
    struct iovec iov[2] = {{hdr, 4}, {(void *)(t->data + off), len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    sendmsg(t->sock, &msg, 0);
    return 0;
  }
  memcpy(scratch, hdr, 4);
  size_t got = 0;
  while (got < len) {
    ssize_t r = pread(t->fd, scratch + 4 + got, len - got, off + got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return -1;
    got += r;
  }
  send(t->sock, scratch, 4 + len, 0);
  return 0;
}

/* Sets the socket's receive timeout when it differs from the one set. */
static void set_timeout(transfer_t *t, double ms, double *current) {
  if (ms < 1) ms = 1;
  if (*current == ms) return;
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((uint64_t)ms % 1000) * 1000};
  setsockopt(t->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  *current = ms;
}

typedef struct {
  int misses, rest;
} spin_t;

/*
 * recv, after busy polling for up to busy_poll_us when cores are idle. In lockstep a transfer waits a
 * round trip per block; on a fast network most of that is the wake-up of a sleeping thread, which a
 * short poll avoids. Adaptive: a transfer whose ACKs keep arriving later than the poll (a slower
 * network) stops polling for a while, and no transfer polls while as many run as there are CPUs.
 */
static ssize_t poll_recv(transfer_t *t, uint8_t *buf, size_t len, spin_t *spin) {
  if (t->busy_poll_us > 0 && spin->rest == 0 && atomic_load(&running) < cpus) {
    double until = now_ms() + t->busy_poll_us / 1e3;
    do {
      ssize_t r = recv(t->sock, buf, len, MSG_DONTWAIT);
      if (r >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        spin->misses = 0;
        return r;
      }
    } while (now_ms() < until);
    if (++spin->misses >= SPIN_MISSES) {
      spin->misses = 0;
      spin->rest = SPIN_REST;
    }
  } else if (spin->rest > 0) {
    spin->rest--;
  }
  return recv(t->sock, buf, len, 0);
}

static void run(transfer_t *t) {
  uint8_t *scratch = malloc(4 + (size_t)t->blksize);
  if (!scratch) {
    fail(t, "out of memory");
    return;
  }
  uint8_t in[600];
  uint64_t blocks = t->size / t->blksize + 1, acked = 0, sent = 0;
  uint32_t tries = 0;
  int waiting_oack = t->oack != NULL, refused = 0;
  spin_t spin = {0, 0};
  double current = -1;

  for (;;) {
    /* (re)send what is due: the OACK, or the window after the last acknowledged block */
    if (waiting_oack) {
      send(t->sock, t->oack, t->oack_len, 0);
    } else {
      uint64_t last = acked + t->windowsize < blocks ? acked + t->windowsize : blocks;
      for (uint64_t n = acked + 1; n <= last; n++) {
        int err = send_block(t, n, scratch);
        if (err) {
          send_error(t, "read error");
          fail(t, "read error: %s", err > 0 ? strerror(err) : "the file changed during the transfer");
          goto out;
        }
        if (n > sent) sent = n;
      }
    }
    double factor = 1u << (tries < 4 ? tries : 4); /* 1, 2, 4, 8, 16 (MAX_BACKOFF_FACTOR) */
    double deadline = now_ms() + t->timeout_ms * factor;
    set_timeout(t, t->timeout_ms * factor, &current); /* a syscall only when the backoff changes it */
    /* wait for an ACK that moves the transfer on, or the deadline (rechecked after a packet that did not) */
    for (int first = 1;; first = 0) {
      if (!first && now_ms() >= deadline) break;
      ssize_t r = poll_recv(t, in, sizeof in - 1, &spin);
      if (atomic_load(&t->aborted)) {
        fail(t, "server stopped");
        goto out;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break; /* timed out */
      /* ICMP port unreachable: the client has gone, or only a late resend of ours reached its closed
         port after it had finished: its last ACK may still be queued behind the error */
      if (r < 0 && errno == ECONNREFUSED) {
        refused = 1;
        continue;
      }
      if (r < 0) {
        fail(t, "socket error: %s", strerror(errno));
        goto out;
      }
      if (r < 4) continue;
      unsigned op = in[0] << 8 | in[1], wire = in[2] << 8 | in[3];
      if (op == OP_ERROR) {
        in[r] = 0;
        fail(t, "client error %u: %.120s", wire, (char *)in + 4);
        goto out;
      }
      if (op != OP_ACK) continue;
      if (waiting_oack) {
        if (wire != 0) continue;
        waiting_oack = 0;
        tries = 0;
        goto next;
      }
      /* map the 16-bit block number onto the blocks in flight (acked .. sent) */
      uint64_t delta = (wire - (acked & 0xffff) + 0x10000) & 0xffff, n = acked + delta;
      if (delta == 0 || n > sent) continue; /* duplicate or stale: the timer handles loss */
      acked = n;
      tries = 0;
      refused = 0;
      if (acked >= blocks) {
        t->ok = 1;
        goto out;
      }
      goto next;
    }
    /* timed out */
    if (refused) {
      fail(t, "the client has gone (its port is unreachable)");
      goto out;
    }
    if (++tries > t->retries) {
      send_error(t, "timed out");
      fail(t, "no acknowledgement after %u retransmissions", t->retries);
      goto out;
    }
    t->retransmits++;
  next:;
  }
out:
  t->bytes = t->ok ? t->size : (acked * t->blksize < t->size ? acked * t->blksize : t->size);
  free(scratch);
}

static void *thread_main(void *arg) {
  transfer_t *t = arg;
  double t0 = now_ms();
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0 || bind(s, (struct sockaddr *)&t->local, sizeof t->local) < 0 ||
      connect(s, (struct sockaddr *)&t->peer, sizeof t->peer) < 0) {
    t->early = 1;
    fail(t, "cannot open the transfer socket: %s", strerror(errno));
    if (s >= 0) close(s);
  } else {
    pthread_mutex_lock(&t->lock);
    t->sock = s;
    pthread_mutex_unlock(&t->lock);
    atomic_fetch_add(&running, 1);
    if (atomic_load(&t->aborted)) {
      send_error(t, "server stopped"); /* stopped before this thread ran: abort() found no socket to tell */
      fail(t, "server stopped");
    } else {
      run(t);
    }
    atomic_fetch_sub(&running, 1);
    pthread_mutex_lock(&t->lock);
    t->sock = -1;
    close(s);
    pthread_mutex_unlock(&t->lock);
  }
  t->ms = now_ms() - t0;
  napi_threadsafe_function done = t->done; /* t may be freed once JavaScript has the outcome */
  napi_call_threadsafe_function(done, t, napi_tsfn_blocking);
  napi_release_threadsafe_function(done, napi_tsfn_release);
  return NULL;
}

/* ---- JavaScript binding ---- */

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "tftp sender: " #call " failed");   \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static void settle(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)js_cb;
  (void)context;
  transfer_t *t = data;
  if (env == NULL) return;
  napi_value result, v;
  napi_create_object(env, &result);
  napi_get_boolean(env, t->ok, &v);
  napi_set_named_property(env, result, "ok", v);
  if (!t->ok) {
    napi_create_string_utf8(env, t->error, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, result, "error", v);
  }
  if (t->early) {
    napi_get_boolean(env, 1, &v);
    napi_set_named_property(env, result, "early", v);
  }
  napi_create_double(env, (double)t->bytes, &v);
  napi_set_named_property(env, result, "bytes", v);
  napi_create_double(env, (double)(int64_t)(t->ms + 0.5), &v);
  napi_set_named_property(env, result, "ms", v);
  napi_create_uint32(env, t->retransmits, &v);
  napi_set_named_property(env, result, "retransmits", v);
  napi_resolve_deferred(env, t->deferred, result);
  if (t->data_ref) napi_delete_reference(env, t->data_ref);
  t->data_ref = NULL;
  napi_delete_reference(env, t->self_ref); /* the handle may now be collected (then t is freed) */
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  transfer_t *t = data;
  pthread_mutex_destroy(&t->lock);
  free(t->oack);
  free(t);
}

static int get_u32(napi_env env, napi_value obj, const char *name, uint32_t *out) {
  napi_value v;
  return napi_get_named_property(env, obj, name, &v) == napi_ok && napi_get_value_uint32(env, v, out) == napi_ok;
}

static int get_addr(napi_env env, napi_value obj, const char *name, const char *port_name, struct sockaddr_in *out) {
  napi_value v;
  char text[64];
  size_t len;
  uint32_t port = 0;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok ||
      napi_get_value_string_utf8(env, v, text, sizeof text, &len) != napi_ok) return 0;
  if (port_name && !get_u32(env, obj, port_name, &port)) return 0;
  memset(out, 0, sizeof *out);
  out->sin_family = AF_INET;
  out->sin_port = htons(port);
  return len == 0 || inet_pton(AF_INET, text, &out->sin_addr) == 1;
}

/*
 * start({local, address, port, data?, fd?, size, blksize, windowsize, timeoutMs, retries, busyPollUs, oack?})
 *   → {done: Promise<{ok, error?, early?, bytes, ms, retransmits}>, handle}
 */
static napi_value start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value spec, v, handle, promise, out, name;
  CHECK(napi_get_cb_info(env, info, &argc, &spec, NULL, NULL));
  transfer_t *t = calloc(1, sizeof *t);
  if (!t) { napi_throw_error(env, NULL, "tftp sender: out of memory"); return NULL; }
  t->fd = -1;
  t->sock = -1;
  pthread_mutex_init(&t->lock, NULL);
  double size = 0;
  bool has = false;
  int ok = get_addr(env, spec, "local", NULL, &t->local) && get_addr(env, spec, "address", "port", &t->peer) &&
           get_u32(env, spec, "blksize", &t->blksize) && get_u32(env, spec, "windowsize", &t->windowsize) &&
           get_u32(env, spec, "timeoutMs", &t->timeout_ms) && get_u32(env, spec, "retries", &t->retries) &&
           get_u32(env, spec, "busyPollUs", &t->busy_poll_us) &&
           napi_get_named_property(env, spec, "size", &v) == napi_ok && napi_get_value_double(env, v, &size) == napi_ok &&
           t->blksize >= 8 && t->windowsize >= 1;
  t->size = (uint64_t)size;
  if (ok && napi_has_named_property(env, spec, "data", &has) == napi_ok && has) {
    void *p;
    size_t len;
    napi_get_named_property(env, spec, "data", &v);
    ok = napi_get_buffer_info(env, v, &p, &len) == napi_ok && len >= t->size;
    t->data = p;
    if (ok) napi_create_reference(env, v, 1, &t->data_ref);
  } else if (ok) {
    uint32_t fd;
    ok = get_u32(env, spec, "fd", &fd);
    t->fd = (int)fd;
  }
  if (ok && napi_has_named_property(env, spec, "oack", &has) == napi_ok && has) {
    void *p;
    napi_get_named_property(env, spec, "oack", &v);
    ok = napi_get_buffer_info(env, v, &p, &t->oack_len) == napi_ok && (t->oack = malloc(t->oack_len)) != NULL;
    if (ok) memcpy(t->oack, p, t->oack_len);
  }
  if (!ok) {
    if (t->data_ref) napi_delete_reference(env, t->data_ref);
    finalize(env, t, NULL);
    napi_throw_type_error(env, NULL, "tftp sender: bad transfer spec");
    return NULL;
  }
  CHECK(napi_create_external(env, t, finalize, NULL, &handle));
  CHECK(napi_create_reference(env, handle, 1, &t->self_ref));
  CHECK(napi_create_promise(env, &t->deferred, &promise));
  CHECK(napi_create_string_utf8(env, "tftp transfer", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_threadsafe_function(env, NULL, NULL, name, 0, 1, NULL, NULL, NULL, settle, &t->done));
  napi_unref_threadsafe_function(env, t->done); /* like a socket the server has unref'ed: no keep-alive */
  pthread_attr_t attr;
  pthread_t tid;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, THREAD_STACK);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int err = pthread_create(&tid, &attr, thread_main, t);
  pthread_attr_destroy(&attr);
  if (err) {
    t->early = 1;
    fail(t, "cannot start a transfer thread: %s", strerror(err));
    settle(env, NULL, NULL, t);
    napi_release_threadsafe_function(t->done, napi_tsfn_release);
  }
  CHECK(napi_create_object(env, &out));
  CHECK(napi_set_named_property(env, out, "done", promise));
  CHECK(napi_set_named_property(env, out, "handle", handle));
  return out;
}

/* abort(handle): ends a running transfer ("server stopped"), telling its client with an ERROR so that it
   need not wait out its own timeouts; nothing once it has ended. */
static napi_value abort_transfer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value handle;
  void *p;
  CHECK(napi_get_cb_info(env, info, &argc, &handle, NULL, NULL));
  CHECK(napi_get_value_external(env, handle, &p));
  transfer_t *t = p;
  atomic_store(&t->aborted, 1);
  pthread_mutex_lock(&t->lock);
  if (t->sock >= 0) {
    send_error(t, "server stopped");
    shutdown(t->sock, SHUT_RDWR);
  }
  pthread_mutex_unlock(&t->lock);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  cpus = n > 0 ? (int)n : 1;
  napi_create_function(env, "start", NAPI_AUTO_LENGTH, start, NULL, &fn);
  napi_set_named_property(env, exports, "start", fn);
  napi_create_function(env, "abort", NAPI_AUTO_LENGTH, abort_transfer, NULL, &fn);
  napi_set_named_property(env, exports, "abort", fn);
  return exports;
}
