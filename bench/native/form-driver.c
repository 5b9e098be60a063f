/*
 * The bench's load driver for the issuer scenarios that send one form per request (a client assertion is
 * good once), in C over OpenSSL so that the clients cost the measured cores as little as possible: the
 * JavaScript driver spent about a fifth of an issuer's CPU per token, on a core an issuer replica shares
 * with it in the two-replica rounds.
 *
 * Same load shape as bench/load.ts runFormPerRequest: `connections` keep-alive TLS connections with a client
 * certificate, spread round-robin over the ports, one request outstanding per connection; each request is
 * one buffer (head and the next unused form, put together when it is sent); a response is framed by its
 * Content-Length.
 *
 * usage: form-driver HOST PATH PORTS(comma-separated) CONNECTIONS DURATION_S SETTLE_S MAX_REQUESTS
 *                    FORMS_FILE(one form per line) CERT KEY [MAX_TLS_VERSION: TLSv1.2|TLSv1.3] [CIPHERS]
 * prints one JSON line: the LoadResult of bench/load.ts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum state { CONNECTING, HANDSHAKING, WRITING, READING, CLOSED };

struct conn {
  int fd;
  int port;
  SSL *ssl;
  enum state st;
  char *req;
  size_t req_len;
  char buf[16384];
  size_t have;
  long body_left; /* -1 while the head is incomplete */
  int status;
  double t0;
  int in_flight;
  uint32_t events; /* what epoll watches for now, so a request costs no epoll_ctl when unchanged */
};

static SSL_CTX *ctx;
static const char *host;
static const char *path;
static char **forms;
static size_t form_count, sent;
static double deadline, started, settle_until, window_start;
static double *lat;
static size_t lat_len, lat_cap;
static long answered, non2xx, errors, timeouts;
static int ep;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "form-driver: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void watch(struct conn *c, uint32_t events, int op) {
  if (op == EPOLL_CTL_MOD && c->events == events) return;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, op, c->fd, &ev) < 0) die("epoll_ctl");
  c->events = events;
}

static void open_conn(struct conn *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(c->port)};
  inet_pton(AF_INET, host, &sa.sin_addr);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) die("connect");
  c->ssl = SSL_new(ctx);
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_tlsext_host_name(c->ssl, host);
  c->st = CONNECTING;
  c->in_flight = 0;
  watch(c, EPOLLOUT, EPOLL_CTL_ADD);
}

static void close_conn(struct conn *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  SSL_free(c->ssl);
  close(c->fd);
  c->ssl = NULL;
  c->st = CLOSED;
}

static int done(void) { return sent >= form_count || now() >= deadline; }

static void next_request(struct conn *c) {
  if (done()) {
    close_conn(c);
    return;
  }
  const char *form = forms[sent++];
  size_t form_len = strlen(form);
  free(c->req);
  c->req = NULL;
  int n = asprintf(&c->req,
                   "POST %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: keep-alive\r\n"
                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: %zu\r\n\r\n%s",
                   path, host, c->port, form_len, form);
  if (n < 0) die("asprintf");
  c->req_len = (size_t)n;
  c->have = 0;
  c->body_left = -1;
  c->in_flight = 1;
  c->st = WRITING;
  c->t0 = now();
}

static void record(struct conn *c) {
  double t = now();
  answered++;
  c->in_flight = 0;
  if (c->status < 200 || c->status >= 300) {
    non2xx++;
    return;
  }
  if (window_start == 0) {
    if (t < settle_until) return;
    window_start = t;
  }
  if (lat_len == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 65536;
    lat = realloc(lat, lat_cap * sizeof *lat);
    if (!lat) die("realloc");
  }
  lat[lat_len++] = (t - c->t0) * 1000;
}

/* A failed connection: counted if a request was on it, then opened again while there is work left. */
static void failed(struct conn *c) {
  if (c->in_flight) errors++;
  close_conn(c);
  if (!done()) open_conn(c);
}

/* Parses what has arrived; returns 1 when the response is complete. */
static int parse(struct conn *c) {
  if (c->body_left < 0) {
    char *end = memmem(c->buf, c->have, "\r\n\r\n", 4);
    if (!end) return 0;
    size_t head_len = (size_t)(end - c->buf) + 4;
    c->status = atoi(c->buf + 9);
    long length = -1;
    for (char *p = c->buf; p < end; p++) {
      if ((*p == '\n') && strncasecmp(p + 1, "content-length:", 15) == 0) {
        length = strtol(p + 16, NULL, 10);
        break;
      }
    }
    if (length < 0) return -1;
    c->body_left = length - (long)(c->have - head_len);
  }
  return c->body_left <= 0;
}

static void step(struct conn *c) {
  for (;;) {
    int r, e;
    switch (c->st) {
      case CONNECTING: {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) return failed(c);
        c->st = HANDSHAKING;
        continue;
      }
      case HANDSHAKING:
        r = SSL_connect(c->ssl);
        if (r == 1) {
          next_request(c);
          if (c->st == CLOSED) return;
          continue;
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_READ) return watch(c, EPOLLIN, EPOLL_CTL_MOD);
        if (e == SSL_ERROR_WANT_WRITE) return watch(c, EPOLLOUT, EPOLL_CTL_MOD);
        return failed(c);
      case WRITING:
        r = SSL_write(c->ssl, c->req, (int)c->req_len);
        if (r > 0) {
          /* The answer cannot be there yet: wait for it instead of a read that finds nothing. */
          c->st = READING;
          return watch(c, EPOLLIN, EPOLL_CTL_MOD);
        }
        e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE) return watch(c, EPOLLOUT, EPOLL_CTL_MOD);
        if (e == SSL_ERROR_WANT_READ) return watch(c, EPOLLIN, EPOLL_CTL_MOD);
        return failed(c);
      case READING: {
        /* The body is not kept: only its length counts once the head is parsed. */
        char *into = c->body_left < 0 ? c->buf + c->have : c->buf;
        size_t room = c->body_left < 0 ? sizeof c->buf - c->have : sizeof c->buf;
        if (room == 0) return failed(c);
        r = SSL_read(c->ssl, into, (int)room);
        if (r <= 0) {
          e = SSL_get_error(c->ssl, r);
          if (e == SSL_ERROR_WANT_READ) return;
          if (e == SSL_ERROR_WANT_WRITE) return watch(c, EPOLLOUT, EPOLL_CTL_MOD);
          return failed(c);
        }
        if (c->body_left < 0)
          c->have += (size_t)r;
        else
          c->body_left -= r;
        int complete = parse(c);
        if (complete < 0) return failed(c); /* no Content-Length: the response cannot be framed */
        if (!complete) continue;
        record(c);
        next_request(c);
        if (c->st == CLOSED) return;
        continue;
      }
      case CLOSED:
        return;
    }
  }
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double at(double q) {
  if (lat_len == 0) return 0;
  size_t i = (size_t)(q * lat_len + 0.999999999);
  if (i > 0) i--;
  if (i >= lat_len) i = lat_len - 1;
  return lat[i];
}

static char **read_forms(const char *file, size_t limit, size_t *count) {
  FILE *f = fopen(file, "r");
  if (!f) die(file);
  size_t cap = 1024, n = 0;
  char **out = malloc(cap * sizeof *out);
  char *line = NULL;
  size_t len = 0;
  ssize_t got;
  while (n < limit && (got = getline(&line, &len, f)) > 0) {
    if (line[got - 1] == '\n') line[--got] = 0;
    if (got == 0) continue;
    if (n == cap) out = realloc(out, (cap *= 2) * sizeof *out);
    out[n++] = strdup(line);
  }
  free(line);
  fclose(f);
  *count = n;
  return out;
}

int main(int argc, char **argv) {
  if (argc < 11) {
    fprintf(stderr, "usage: form-driver HOST PATH PORTS CONNECTIONS DURATION SETTLE MAX FORMS CERT KEY [MAXVER] [CIPHERS]\n");
    return 2;
  }
  host = argv[1];
  path = argv[2];
  int ports[64], port_count = 0;
  for (char *p = strtok(argv[3], ","); p && port_count < 64; p = strtok(NULL, ",")) ports[port_count++] = atoi(p);
  int connections = atoi(argv[4]);
  double duration = atof(argv[5]), settle = atof(argv[6]);
  forms = read_forms(argv[8], (size_t)atol(argv[7]), &form_count);

  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  /* One read() takes whatever has arrived, instead of one for each record's header and one for its body. */
  SSL_CTX_set_read_ahead(ctx, 1);
  if (SSL_CTX_use_certificate_chain_file(ctx, argv[9]) != 1 ||
      SSL_CTX_use_PrivateKey_file(ctx, argv[10], SSL_FILETYPE_PEM) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }
  if (argc > 11 && argv[11][0]) {
    SSL_CTX_set_max_proto_version(ctx, strcmp(argv[11], "TLSv1.2") == 0 ? TLS1_2_VERSION : TLS1_3_VERSION);
  }
  if (argc > 12 && argv[12][0] && SSL_CTX_set_cipher_list(ctx, argv[12]) != 1) {
    ERR_print_errors_fp(stderr);
    return 1;
  }

  /* SCHED_BATCH: a driver woken by an answer does not preempt the server process it shares a core with (the
   * second replica in the two-replica rounds); it runs when that process yields or its slice ends, and then
   * finds more answers per epoll_wait. Where the policy cannot be set, the driver runs as it is. */
  struct sched_param batch = {0};
  (void)sched_setscheduler(0, SCHED_BATCH, &batch);
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  struct rusage ru0, ru1;
  getrusage(RUSAGE_SELF, &ru0);
  started = now();
  settle_until = started + settle;
  deadline = started + settle + duration;
  struct conn *conns = calloc((size_t)connections, sizeof *conns);
  for (int i = 0; i < connections; i++) {
    conns[i].port = ports[i % port_count];
    open_conn(&conns[i]);
  }
  struct epoll_event events[256];
  for (;;) {
    int open = 0;
    for (int i = 0; i < connections; i++) open += conns[i].st != CLOSED;
    if (open == 0) break;
    int n = epoll_wait(ep, events, 256, 100);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) step((struct conn *)events[i].data.ptr);
    double t = now();
    if (t >= deadline + 10) {
      /* Requests unanswered, or connections not set up, ten seconds past the end are timeouts. */
      for (int i = 0; i < connections; i++)
        if (conns[i].st != CLOSED) {
          timeouts++;
          close_conn(&conns[i]);
        }
    }
  }
  double ended = now();
  getrusage(RUSAGE_SELF, &ru1);
  double cpu = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6 +
               (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
  double seconds = ended - started;
  double window = window_start == 0 ? seconds : ended - window_start;
  qsort(lat, lat_len, sizeof *lat, cmp);
  printf("{\"requests\":%ld,\"seconds\":%.2f,\"rps\":%.0f,\"latencyMs\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,"
         "\"max\":%.3f},\"non2xx\":%ld,\"errors\":%ld,\"timeouts\":%ld,\"driverCpuPercent\":%.0f}\n",
         answered, seconds, lat_len / window, at(0.5), at(0.99), at(0.999), lat_len ? lat[lat_len - 1] : 0,
         non2xx, errors, timeouts, cpu / seconds * 100);
  return 0;
}
