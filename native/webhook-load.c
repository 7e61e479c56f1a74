/*
 * The webhook bench's load generator, in C (bench/webhook-load.ts runs it; docs/webhook.md,
 * "Performance", says why it replaced the one written in Node). Built by `make native`; needs
 * OpenSSL's headers (libssl-dev).
 *
 * It calls a webhook the way the API server does: a fixed set of keep-alive TLS connections
 * (CA-verified, server name checked, ALPN http/1.1), one request at a time on each, the same
 * prebuilt HTTP/1.1 request every time; an answer is read only as far as its status line and
 * Content-Length. Two modes:
 *   - max:  each connection sends its next request as soon as the last is answered (throughput);
 *   - rate: request i is due at start + i / rate, whatever happened before it, and its latency
 *           runs from that due moment (no coordinated omission); a request finding no free
 *           connection waits, its clock running, for the first one that frees up.
 * One thread: an epoll loop over the sockets and a timerfd set to the next due moment, so the
 * generator sleeps between requests and costs the machine little (70-90 us of CPU per request at
 * 2,000/s here). The generator in Node it replaced spent 180-200 us, and its own stalls (its
 * event loop, its collector, its clock thread) were part of the tail it was there to measure:
 * its send lag p99 reached 15-60 ms in some rounds.
 *
 * Protocol with the parent: the request's bytes and the CA's PEM come in files named by the
 * arguments; after the warm-up requests the generator prints "measuring" on a line of its own,
 * "finished" when the last measured answer is in, and then one line of JSON (the parent's LoadResult: counts, CPU, and per request its
 * latency, send lag and, in rate mode, its connection's local port, index on that connection,
 * and due, sent and answered moments on CLOCK_MONOTONIC in ms, the clock the server's records use).
 *
 * usage: webhook-load --port P --ca FILE --server-name NAME --request FILE --connections N
 *                     --warmup-requests N --mode max|rate --duration-ms MS [--rate R]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define READ_SLICE 65536

struct connection {
  int fd;
  SSL *ssl;
  uint16_t local_port;
  int busy;          /* a request is in flight */
  int write_pending; /* SSL_write asked to be retried once the socket is writable */
  uint32_t sent_count;
  long record;       /* the record of the request in flight (rate mode), or -1 */
  double sent_ms;
  char *buf;
  size_t len, cap;
  long expected;     /* bytes of the answer (head and body) once its head is complete, else -1 */
  int status;
};

/* One measured request. */
struct record {
  double due_ms, sent_ms, done_ms;
  uint32_t index;
  uint16_t port;
};

static struct {
  const char *ca, *server_name, *request_path, *mode;
  int port, connections, warmup;
  double duration_ms, rate;
} args;

static char *request;
static size_t request_len;
static SSL_CTX *ctx;
static int epfd;
static struct connection *conns;
static int *free_stack, free_top;

/* Answers other than a 200 (a bench run with any is not a result; the parent names the first). */
static long errors;
static char first_error[64];
static long answered;
static double *latencies, *send_lags;
static long latency_count, latency_cap;
static struct record *records;

static void die(const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  fputs("webhook-load: ", stderr);
  vfprintf(stderr, format, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) die("%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *data = malloc(size + 1);
  if (!data || fread(data, 1, size, f) != (size_t)size) die("%s: could not read it", path);
  fclose(f);
  data[size] = 0;
  *len = size;
  return data;
}

static void push_latency(double latency, double lag) {
  if (latency_count == latency_cap) {
    latency_cap = latency_cap ? latency_cap * 2 : 4096;
    latencies = realloc(latencies, latency_cap * sizeof *latencies);
    send_lags = realloc(send_lags, latency_cap * sizeof *send_lags);
    if (!latencies || !send_lags) die("out of memory");
  }
  latencies[latency_count] = latency;
  send_lags[latency_count++] = lag;
}

static void open_connection(struct connection *c) {
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(args.port) };
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect to 127.0.0.1:%d: %s", args.port, strerror(errno));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in local;
  socklen_t local_len = sizeof local;
  getsockname(c->fd, (struct sockaddr *)&local, &local_len);
  c->local_port = ntohs(local.sin_port);
  c->ssl = SSL_new(ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_tlsext_host_name(c->ssl, args.server_name);
  SSL_set1_host(c->ssl, args.server_name);
  static const unsigned char alpn[] = { 8, 'h', 't', 't', 'p', '/', '1', '.', '1' };
  SSL_set_alpn_protos(c->ssl, alpn, sizeof alpn);
  if (SSL_connect(c->ssl) != 1) {
    char reason[256];
    ERR_error_string_n(ERR_get_error(), reason, sizeof reason);
    die("TLS handshake with %s: %s", args.server_name, reason);
  }
  fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
  c->cap = READ_SLICE * 2;
  c->buf = malloc(c->cap);
  c->expected = -1;
  c->record = -1;
  struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
  epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void watch_writable(struct connection *c, int on) {
  struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };
  epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
  c->write_pending = on;
}

static void write_request(struct connection *c) {
  int n = SSL_write(c->ssl, request, (int)request_len);
  if (n > 0) {
    if (c->write_pending) watch_writable(c, 0);
    return;
  }
  int err = SSL_get_error(c->ssl, n);
  if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
    if (!c->write_pending) watch_writable(c, 1);
    return;
  }
  die("writing a request on port %u failed (SSL error %d)", c->local_port, err);
}

static void send_request(struct connection *c, long record) {
  c->busy = 1;
  c->record = record;
  c->sent_count++;
  c->len = 0;
  c->expected = -1;
  c->sent_ms = now_ms();
  if (record >= 0) {
    records[record].sent_ms = c->sent_ms;
    records[record].port = c->local_port;
    records[record].index = c->sent_count - 1;
  }
  write_request(c);
}

/* A connection's answer is complete (or it failed): count it, and return the connection. */
static void finish(struct connection *c, const char *outcome, int measured) {
  double done = now_ms();
  c->busy = 0;
  if (!measured) {
    if (outcome) die("warm-up request failed: %s", outcome);
    return;
  }
  if (outcome) {
    errors++;
    if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", outcome);
  }
  answered++;
  if (c->record >= 0) {
    struct record *r = &records[c->record];
    r->done_ms = done;
    push_latency(done - r->due_ms, r->sent_ms - r->due_ms);
  } else {
    push_latency(done - c->sent_ms, 0);
  }
}

/*
 * Reads what the socket has; returns 1 once the answer in flight is complete, with `outcome`
 * NULL for a 200 and "status N" otherwise. Anything else (a lost connection, an answer without a
 * Content-Length or longer than it says, bytes with no request in flight) ends the run: the bench
 * cannot trust a connection it no longer understands, and its result would not be a result.
 */
static int read_answer(struct connection *c, const char **outcome) {
  for (;;) {
    if (c->cap - c->len < READ_SLICE) {
      c->cap *= 2;
      c->buf = realloc(c->buf, c->cap);
      if (!c->buf) die("out of memory");
    }
    int n = SSL_read(c->ssl, c->buf + c->len, READ_SLICE);
    if (n <= 0) {
      int err = SSL_get_error(c->ssl, n);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) break;
      die("connection on port %u lost (SSL error %d)", c->local_port, err);
    }
    c->len += n;
  }
  if (c->write_pending) write_request(c);
  if (!c->busy) {
    if (c->len == 0) return 0;
    die("%zu bytes came on port %u with no request in flight", c->len, c->local_port);
  }
  if (c->expected < 0) {
    char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
    if (!end) return 0;
    *end = 0; /* the head as a string, for the searches below; the byte is not read again */
    const char *length = strcasestr(c->buf, "\r\ncontent-length:");
    if (c->len < 13 || strncmp(c->buf, "HTTP/1.", 7) != 0 || c->buf[8] != ' ' || !length)
      die("malformed answer on port %u, not a status line and a Content-Length: %.60s", c->local_port, c->buf);
    c->status = atoi(c->buf + 9);
    c->expected = (end - c->buf) + 4 + atol(length + 17);
  }
  if ((long)c->len < c->expected) return 0;
  if ((long)c->len > c->expected) die("malformed answer on port %u: %ld bytes past its Content-Length", c->local_port, (long)c->len - c->expected);
  static char status[32];
  if (c->status == 200) *outcome = NULL;
  else {
    snprintf(status, sizeof status, "status %d", c->status);
    *outcome = status;
  }
  return 1;
}

/* Waits for events and handles answers; `on_answer` decides what a freed connection does next. */
static void poll_once(int timer_fd, int *timer_fired, int measured, void (*on_answer)(struct connection *)) {
  struct epoll_event events[64];
  int n = epoll_wait(epfd, events, 64, -1);
  if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
  for (int i = 0; i < n; i++) {
    if (events[i].data.ptr == NULL) {
      uint64_t expirations;
      if (read(timer_fd, &expirations, sizeof expirations) > 0) *timer_fired = 1;
      continue;
    }
    struct connection *c = events[i].data.ptr;
    if ((events[i].events & EPOLLOUT) && c->write_pending) write_request(c);
    if (!(events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))) continue;
    const char *outcome = NULL;
    if (!read_answer(c, &outcome)) continue;
    finish(c, outcome, measured);
    on_answer(c);
  }
}

static void nothing(struct connection *c) { (void)c; }

static double max_deadline;
static void send_again(struct connection *c) {
  if (now_ms() < max_deadline) send_request(c, -1);
}

static long next_due, count, queued_head;
static double start_ms, interval_ms;
static void take_queued(struct connection *c) {
  if (queued_head < next_due) send_request(c, queued_head++);
  else free_stack[free_top++] = (int)(c - conns);
}

static void print_json(double seconds, long cpu_us) {
  FILE *out = stdout;
  fprintf(out, "{\"requests\":%ld,\"errors\":%ld,", latency_count, errors);
  if (first_error[0]) fprintf(out, "\"firstError\":\"%s\",", first_error);
  fprintf(out, "\"seconds\":%.6f,\"clientCpuUs\":%ld,\"latenciesMs\":[", seconds, cpu_us);
  for (long i = 0; i < latency_count; i++) fprintf(out, i ? ",%.4f" : "%.4f", latencies[i]);
  fputs("],\"sendLagsMs\":[", out);
  if (records)
    for (long i = 0; i < latency_count; i++) fprintf(out, i ? ",%.4f" : "%.4f", send_lags[i]);
  fputs("]", out);
  if (records) {
    const char *names[] = { "ports", "indexes", "dueMs", "sentMs", "doneMs" };
    fputs(",\"sent\":{", out);
    for (int field = 0; field < 5; field++) {
      fprintf(out, "%s\"%s\":[", field ? "," : "", names[field]);
      for (long i = 0; i < count; i++) {
        const struct record *r = &records[i];
        if (i) fputc(',', out);
        if (field == 0) fprintf(out, "%u", r->port);
        else if (field == 1) fprintf(out, "%u", r->index);
        else fprintf(out, "%.4f", field == 2 ? r->due_ms : field == 3 ? r->sent_ms : r->done_ms);
      }
      fputc(']', out);
    }
    fputc('}', out);
  }
  fputs("}\n", out);
  fflush(out);
}

static long cpu_us(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1000000L + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}

static void parse_args(int argc, char **argv) {
  args.connections = 16;
  for (int i = 1; i < argc; i++) {
    const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
    if (!value) die("%s: a value is required", name);
    i++;
    if (!strcmp(name, "--port")) args.port = atoi(value);
    else if (!strcmp(name, "--ca")) args.ca = value;
    else if (!strcmp(name, "--server-name")) args.server_name = value;
    else if (!strcmp(name, "--request")) args.request_path = value;
    else if (!strcmp(name, "--connections")) args.connections = atoi(value);
    else if (!strcmp(name, "--warmup-requests")) args.warmup = atoi(value);
    else if (!strcmp(name, "--mode")) args.mode = value;
    else if (!strcmp(name, "--duration-ms")) args.duration_ms = atof(value);
    else if (!strcmp(name, "--rate")) args.rate = atof(value);
    else die("%s: unknown argument", name);
  }
  if (args.port <= 0 || !args.ca || !args.server_name || !args.request_path || args.connections <= 0
      || !args.mode || (strcmp(args.mode, "max") && strcmp(args.mode, "rate")) || args.duration_ms <= 0
      || (!strcmp(args.mode, "rate") && args.rate <= 0))
    die("usage: webhook-load --port P --ca FILE --server-name NAME --request FILE --connections N "
        "--warmup-requests N --mode max|rate --duration-ms MS [--rate R] (rate > 0 for --mode rate)");
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  /* A server that closes a connection makes the next write fail with EPIPE, reported as such, rather than kill the generator. */
  signal(SIGPIPE, SIG_IGN);
  request = read_file(args.request_path, &request_len);
  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx || SSL_CTX_load_verify_locations(ctx, args.ca, NULL) != 1) die("%s: not a CA certificate in PEM", args.ca);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  epfd = epoll_create1(0);
  conns = calloc(args.connections, sizeof *conns);
  free_stack = calloc(args.connections, sizeof *free_stack);
  for (int i = 0; i < args.connections; i++) open_connection(&conns[i]);

  int timer_fired = 0;
  for (int round = 0; round < args.warmup; round++) {
    for (int i = 0; i < args.connections; i++) send_request(&conns[i], -1);
    for (int busy = 1; busy;) {
      poll_once(-1, &timer_fired, 0, nothing);
      busy = 0;
      for (int i = 0; i < args.connections; i++) busy |= conns[i].busy;
    }
  }
  puts("measuring");
  fflush(stdout);

  long cpu_at_start = cpu_us();
  double started = now_ms();
  if (!strcmp(args.mode, "max")) {
    max_deadline = started + args.duration_ms;
    for (int i = 0; i < args.connections; i++) send_request(&conns[i], -1);
    for (int busy = 1; busy;) {
      poll_once(-1, &timer_fired, 1, send_again);
      busy = 0;
      for (int i = 0; i < args.connections; i++) busy |= conns[i].busy;
    }
  } else {
    count = (long)(args.duration_ms * args.rate / 1000);
    if (count < 1) count = 1;
    records = calloc(count, sizeof *records);
    interval_ms = 1000 / args.rate;
    for (int i = 0; i < args.connections; i++) free_stack[free_top++] = args.connections - 1 - i;
    int timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
    epoll_ctl(epfd, EPOLL_CTL_ADD, timer_fd, &ev);
    start_ms = now_ms();
    for (long i = 0; i < count; i++) records[i].due_ms = start_ms + i * interval_ms;
    timer_fired = 1;
    while (answered < count) {
      if (timer_fired) {
        timer_fired = 0;
        double now = now_ms();
        while (next_due < count && records[next_due].due_ms <= now) next_due++;
        /* Requests due and not yet sent, oldest first, each on a free connection while there is one. */
        while (free_top > 0 && queued_head < next_due) send_request(&conns[free_stack[--free_top]], queued_head++);
        if (next_due < count) {
          double due = records[next_due].due_ms;
          struct itimerspec when = { .it_value = { .tv_sec = (time_t)(due / 1e3), .tv_nsec = (long)((due - (time_t)(due / 1e3) * 1e3) * 1e6) } };
          timerfd_settime(timer_fd, TFD_TIMER_ABSTIME, &when, NULL);
        }
      }
      poll_once(timer_fd, &timer_fired, 1, take_queued);
    }
  }
  double seconds = (now_ms() - started) / 1e3;
  long cpu = cpu_us() - cpu_at_start;
  puts("finished");
  fflush(stdout);
  print_json(seconds, cpu);
  return 0;
}
