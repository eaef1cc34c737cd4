/* iovbench-pingpong: the bare request/response loop, the limit reference of
 * tests/bench/rr-limit.  One connection (TCP, TCP_NODELAY) or one
 * connected UDP socket; the client sends 1 byte, blocks in recv for the 1
 * byte answer, and counts; the server echoes.  No clock read, no poll, no
 * histogram, no timeout: the least a request/response benchmark can do.
 *
 *   iovbench-pingpong server tcp|udp ADDR PORT SECS
 *   iovbench-pingpong client tcp|udp ADDR PORT SECS
 *
 * The client prints "tps N" (transactions per second over SECS) on
 * stdout.  Both ends stop by themselves: the client after SECS (checked
 * every 1024 round trips), the TCP server at the client's FIN; and an
 * alarm ends either at SECS + 10 s (a lost UDP datagram, a client that
 * never came), without a number.  No receive timeout: it would arm a
 * timer in every blocking recv, which the bare loop is not to pay.  IPv4
 * only: the bench's addresses are 198.18.0.0/15. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void) {
  fprintf(stderr, "usage: iovbench-pingpong server|client tcp|udp ADDR PORT SECS\n");
  return 2;
}

static int server(int tcp, struct sockaddr_in *sa) {
  int one = 1, fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  char b;
  if (fd < 0) return perror("socket"), 1;
  (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0) return perror("bind"), 1;
  if (tcp) {
    if (listen(fd, 1) < 0) return perror("listen"), 1;
    int c = accept(fd, NULL, NULL);
    if (c < 0) return perror("accept"), 1;
    (void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (recv(c, &b, 1, 0) == 1)
      if (send(c, &b, 1, MSG_NOSIGNAL) != 1) break;
    close(c);
  } else {
    struct sockaddr_in from;
    socklen_t len = sizeof(from);
    for (;;) {
      len = sizeof(from);
      if (recvfrom(fd, &b, 1, 0, (struct sockaddr *)&from, &len) != 1) break;
      if (sendto(fd, &b, 1, 0, (struct sockaddr *)&from, len) != 1) break;
    }
  }
  close(fd);
  return 0;
}

static int client(int tcp, struct sockaddr_in *sa, int secs) {
  int one = 1, fd = socket(AF_INET, tcp ? SOCK_STREAM : SOCK_DGRAM, 0);
  unsigned long n = 0;
  char b = 'x';
  if (fd < 0) return perror("socket"), 1;
  if (tcp) (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (struct sockaddr *)sa, sizeof(*sa)) < 0) return perror("connect"), 1;
  double t0 = now_s(), end = t0 + secs, t = t0;
  for (;;) {
    if (send(fd, &b, 1, MSG_NOSIGNAL) != 1 || recv(fd, &b, 1, 0) != 1) {
      fprintf(stderr, "pingpong: round trip %lu failed: %s\n", n, strerror(errno));
      return 1;
    }
    if ((++n & 1023) == 0 && (t = now_s()) >= end) break;
  }
  printf("tps %.1f\n", (double)n / (t - t0));
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  struct sockaddr_in sa = { .sin_family = AF_INET };
  if (argc != 6) return usage();
  int tcp = !strcmp(argv[2], "tcp");
  int secs = atoi(argv[5]);
  if ((!tcp && strcmp(argv[2], "udp")) || secs < 1 || secs > 3600) return usage();
  if (inet_pton(AF_INET, argv[3], &sa.sin_addr) != 1) return usage();
  sa.sin_port = htons((unsigned short)atoi(argv[4]));
  alarm((unsigned)secs + 10); /* SIGALRM ends a run that hangs */
  if (!strcmp(argv[1], "server")) return server(tcp, &sa);
  if (!strcmp(argv[1], "client")) return client(tcp, &sa, secs);
  return usage();
}
