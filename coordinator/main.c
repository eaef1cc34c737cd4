/* coord: the iovbench coordinator.  Parses the command line and hands
 * over to run.c. */
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "coord.h"
#include "engine.h"
#include "err.h"
#include "log.h"
#include "parse.h"
#include "plan.h"

static void help_main(void) {
  printf("Usage: coord COMMAND [OPTIONS] ...\n"
         "\n"
         "iovbench coordinator: runs measurement plans on iovbench agents and\n"
         "reports what each I/O path costs.\n"
         "\n"
         "Commands:\n"
         "  run PLAN          run a plan, store results in a new run directory\n"
         "  validate PLAN     check a plan and print its expanded test matrix\n"
         "  report RUN        print a stored run again (table or --json)\n"
         "  keygen            make coord's key pair, which agents let in (CURVE)\n"
         "  plot RUN          figures of a stored run (PNG, SVG) and an index.html\n"
         "  compare A B       test points of two runs side by side: what changed, and is it real\n"
         "  help-plan         every plan key with its type, default and range\n"
         "\n"
         "Options for every command: --debug[=CATS], -q/--quiet, -h/--help.\n"
         "  coord --version   print the version\n"
         "\n"
         "Start with:  coord run plans/quickstart.plan\n"
         "'coord COMMAND --help' shows the options of a command.\n");
}

static void help_run(void) {
  printf("Usage: coord run PLAN [OPTIONS]\n"
         "       coord run --resume RUN [OPTIONS]\n"
         "\n"
         "Run every test point of PLAN on the agents it names and store the\n"
         "results in RESULTS/<date>-<time>-<plan>/ (results.db, the plan, the\n"
         "agents' inventories and logs).  Prints a table at the end.\n"
         "Hosts given as 'local' are started here: in two network namespaces\n"
         "joined by a veth pair when run as root, over loopback otherwise.\n"
         "\n"
         "  -r, --results=DIR          parent directory of run directories (default: results)\n"
         "      --local=MODE           auto (default), netns or loopback\n"
         "      --connect-timeout=DUR  how long to wait for agents to answer\n"
         "                             (default: the plan's timeout)\n"
         "      --resume=RUN           go on with the run in directory RUN (after coord\n"
         "                             was killed or the run interrupted): run its stored\n"
         "                             plan's points that have no result yet, into the\n"
         "                             same results.db.  A point is stored when it ends,\n"
         "                             ok or failed; the one in flight is run again\n"
         "      --plaintext            also use agents that run without authentication\n"
         "                             (iovbench-agent --plaintext) for this run, if coord\n"
         "                             knows no key for them; better per host in the\n"
         "                             plan: NAME.plaintext = yes.  An agent whose key is\n"
         "                             pinned (NAME.key) or known (known_agents) and that\n"
         "                             answers plaintext is always refused (a downgrade)\n"
         "      --key-dir=DIR          coord's key pair and known_agents (default\n"
         "                             ~/.config/iovbench, or $IOVBENCH_KEY_DIR)\n"
         "  -q, --quiet                print only the table and errors\n"
         "      --debug[=CATS]         debug log (proto,net,engine,plan,db)\n"
         "\n"
         "Authentication: coord talks CURVE to every agent that is not 'local',\n"
         "with the key pair from 'coord keygen'; each agent lets it in when\n"
         "coord.key is in its /etc/iovbench/coordinators/.  coord learns an agent's\n"
         "key from the agent's key endpoint (its port + 2) the first time and\n"
         "refuses the agent if that key ever changes (KEYDIR/known_agents, one\n"
         "'ENDPOINT KEY' a line); NAME.key in [hosts] pins a key instead.\n"
         "\n"
         "Exit status: 0 all points ok, 1 some points failed, 2 usage,\n"
         "3 the run could not be carried out, 130 interrupted.\n");
}

static void help_validate(void) {
  printf("Usage: coord validate PLAN [-q]\n"
         "\n"
         "Parse PLAN, expand its sweeps and check every value, without running\n"
         "anything.  Errors name the file, line and key.  Prints the hosts and\n"
         "the expanded test matrix unless -q.\n");
}

static void help_report(void) {
  printf("Usage: coord report RUN [--json | --csv | --runs]\n"
         "\n"
         "Print the results of a stored run.  RUN is a run directory (as printed\n"
         "by coord run) or its results.db.  The first table has one row per test\n"
         "point: with repeats (plan 'repeat', 'confidence'), the mean over its runs\n"
         "and the confidence interval of its throughput.  The study's tables\n"
         "follow: bandwidth and latency by message size per path, CPU cost per path\n"
         "(sender, receiver, and for VMs guest, host and both), inter-VM, scaling,\n"
         "packet rate by frame size and TCP segments by message size.\n"
         "\n"
         "Packet rates: a UDP point's datagrams per second sent and received, a TCP\n"
         "point's segments per second sent; where the Ethernet frame is known\n"
         "(frame_size, or msg_size and the address family), the frame rate, the rate\n"
         "on the wire ((frame + 20) * 8 bits a frame) and its share of the line rate\n"
         "(plan line_rate, else the sender's NIC speed).  Points with a rate search\n"
         "(plan 'search') add the table \"NDR/PDR by frame size per path\".  \"-\" is\n"
         "a figure the run cannot tell.\n"
         "\n"
         "  --runs   also a table with every run of every point\n"
         "  --json   a JSON document instead: per run of a point its start,\n"
         "           intervals and end (as iperf3 shapes them), and per point the\n"
         "           mean, standard deviation and interval of every figure\n"
         "  --csv    one comma-separated row per run of a point, with a header\n");
}

static void help_keygen(void) {
  printf("Usage: coord keygen [--key-dir=DIR] [--force]\n"
         "\n"
         "Make coord's CURVE key pair: DIR/coord.key (the public key, to copy to the\n"
         "agents) and DIR/coord.key_secret (mode 600; it stays here).  DIR is\n"
         "~/.config/iovbench unless --key-dir or $IOVBENCH_KEY_DIR says otherwise.\n"
         "When the pair exists, prints its public key and changes nothing.\n"
         "\n"
         "Then let each agent accept this coordinator:\n"
         "  scp DIR/coord.key root@SERVER:/etc/iovbench/coordinators/$(hostname).key\n"
         "(agents read that directory again when it changes; no restart).\n"
         "\n"
         "  --key-dir=DIR   where the pair is\n"
         "  --force         make a new pair even if one exists (agents must get the\n"
         "                  new coord.key)\n");
}

enum {
  OPT_DEBUG = 1000,
  OPT_LOCAL,
  OPT_CONNECT_TIMEOUT,
  OPT_JSON,
  OPT_VERSION,
  OPT_RESUME,
  OPT_PLAINTEXT,
  OPT_KEY_DIR,
  OPT_FORCE,
  OPT_CSV,
  OPT_RUNS,
};

static int cmd_keygen(int argc, char **argv) {
  static const struct option opts[] = {
    { "key-dir", required_argument, NULL, OPT_KEY_DIR },
    { "force", no_argument, NULL, OPT_FORCE },
    { "help", no_argument, NULL, 'h' },
    { 0, 0, 0, 0 },
  };
  const char *dir_opt = NULL;
  bool force = false;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) switch (c) {
    case OPT_KEY_DIR: dir_opt = optarg; break;
    case OPT_FORCE: force = true; break;
    case 'h': help_keygen(); return 0;
    default: fprintf(stderr, "Try 'coord keygen --help'.\n"); return 2;
    }
  if (optind != argc) {
    iov_err("coord keygen: unexpected argument '%s'. Try 'coord keygen --help'.", argv[optind]);
    return 2;
  }
  char dir[4096], err[512], path[4200];
  if (dir_opt)
    snprintf(dir, sizeof(dir), "%s", dir_opt);
  else if (iov_key_dir_default(false, dir, sizeof(dir)) < 0) {
    iov_err("coord keygen: no home directory to keep the key in; give --key-dir");
    return 2;
  }
  /* ~/.config may not exist yet. */
  char parent[4096];
  snprintf(parent, sizeof(parent), "%s", dir);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    (void)mkdir(parent, 0755);
  }
  snprintf(path, sizeof(path), "%s/coord.key_secret", dir);
  if (force && unlink(path) < 0 && errno != ENOENT) {
    iov_log_errno(-errno, "coord keygen: cannot remove %s: %m", path);
    return 1;
  }
  zcert_t *cert = NULL;
  bool created = false;
  int r = iov_key_load(dir, "coord", true, &cert, &created, err, sizeof(err));
  if (r < 0) {
    iov_err("coord keygen: %s", err);
    return 1;
  }
  if (r > 0) iov_warn("%s", err);
  if (created)
    printf("coord: new key pair in %s: coord.key (public) and coord.key_secret (secret, stays here)\n", dir);
  else
    printf("coord: the key pair in %s exists; kept it (--force makes a new one)\n", dir);
  printf("public key: %s\n"
         "Let each agent accept this coordinator: copy %s/coord.key into\n"
         "/etc/iovbench/coordinators/ on its machine, e.g.\n"
         "  scp %s/coord.key root@SERVER:/etc/iovbench/coordinators/$(hostname).key\n",
         zcert_public_txt(cert), dir, dir);
  zcert_destroy(&cert);
  return 0;
}

static int set_debug(const char *spec) {
  unsigned mask;
  if (iov_log_parse_debug(spec, &mask) < 0) {
    iov_err("unknown debug category in '%s' (proto, net, engine, plan, db)", spec);
    return -EINVAL;
  }
  iov_log_set_debug(mask);
  return 0;
}

static int cmd_run(int argc, char **argv) {
  static const struct option opts[] = {
    { "results", required_argument, NULL, 'r' },
    { "local", required_argument, NULL, OPT_LOCAL },
    { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
    { "resume", required_argument, NULL, OPT_RESUME },
    { "plaintext", no_argument, NULL, OPT_PLAINTEXT },
    { "key-dir", required_argument, NULL, OPT_KEY_DIR },
    { "quiet", no_argument, NULL, 'q' },
    { "debug", optional_argument, NULL, OPT_DEBUG },
    { "help", no_argument, NULL, 'h' },
    { 0, 0, 0, 0 },
  };
  struct iov_run_config cfg = { .results_dir = "results", .local_mode = IOV_LOCAL_AUTO };
  int c;

  while ((c = getopt_long(argc, argv, "r:qh", opts, NULL)) != -1) switch (c) {
    case 'r': cfg.results_dir = optarg; break;
    case OPT_RESUME: cfg.resume_dir = optarg; break;
    case OPT_PLAINTEXT: cfg.plaintext = true; break;
    case OPT_KEY_DIR: cfg.key_dir = optarg; break;
    case OPT_LOCAL:
      cfg.local_mode = iov_local_mode_from_string(optarg);
      if (cfg.local_mode < 0) {
        iov_err("coord run: --local takes auto, netns or loopback, not '%s'", optarg);
        return 2;
      }
      break;
    case OPT_CONNECT_TIMEOUT:
      if (iov_parse_duration(optarg, &cfg.connect_timeout_ns) < 0 || cfg.connect_timeout_ns == 0) {
        iov_err("coord run: --connect-timeout takes a duration such as 10s, not '%s'", optarg);
        return 2;
      }
      break;
    case 'q':
      cfg.quiet = true;
      iov_log_set_level(IOV_LOG_WARNING);
      break;
    case OPT_DEBUG:
      if (set_debug(optarg) < 0) return 2;
      break;
    case 'h': help_run(); return 0;
    default: fprintf(stderr, "Try 'coord run --help'.\n"); return 2;
    }
  if (cfg.resume_dir && optind != argc) {
    iov_err("coord run: --resume runs the plan stored in %s; give no PLAN with it.", cfg.resume_dir);
    return 2;
  }
  if (!cfg.resume_dir && optind != argc - 1) {
    iov_err("coord run: expected one PLAN file. Try 'coord run --help'.");
    return 2;
  }
  cfg.plan_path = cfg.resume_dir ? NULL : argv[optind];

  /* Signals are read from a signalfd in run.c, so they are blocked here,
   * before any thread exists, and every thread inherits that. */
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGHUP);
  sigprocmask(SIG_BLOCK, &s, NULL);
  zsys_handler_set(NULL);

  int r = iov_coord_run(&cfg);
  if (r == -IOV_E_INTERRUPTED) return 130;
  if (r < 0) return 3;
  return r;
}

static int cmd_validate(int argc, char **argv) {
  static const struct option opts[] = {
    { "quiet", no_argument, NULL, 'q' },
    { "debug", optional_argument, NULL, OPT_DEBUG },
    { "help", no_argument, NULL, 'h' },
    { 0, 0, 0, 0 },
  };
  bool quiet = false;
  int c;
  while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) switch (c) {
    case 'q': quiet = true; break;
    case OPT_DEBUG:
      if (set_debug(optarg) < 0) return 2;
      break;
    case 'h': help_validate(); return 0;
    default: fprintf(stderr, "Try 'coord validate --help'.\n"); return 2;
    }
  if (optind != argc - 1) {
    iov_err("coord validate: expected one PLAN file. Try 'coord validate --help'.");
    return 2;
  }
  return iov_coord_validate(argv[optind], quiet) < 0 ? 1 : 0;
}

static int cmd_report(int argc, char **argv) {
  static const struct option opts[] = {
    { "json", no_argument, NULL, OPT_JSON }, { "csv", no_argument, NULL, OPT_CSV },
    { "runs", no_argument, NULL, OPT_RUNS }, { "debug", optional_argument, NULL, OPT_DEBUG },
    { "help", no_argument, NULL, 'h' },      { 0, 0, 0, 0 },
  };
  enum iov_report_format format = IOV_REPORT_TABLE;
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) switch (c) {
    case OPT_JSON: format = IOV_REPORT_JSON; break;
    case OPT_CSV: format = IOV_REPORT_CSV; break;
    case OPT_RUNS: format = IOV_REPORT_TABLE_RUNS; break;
    case OPT_DEBUG:
      if (set_debug(optarg) < 0) return 2;
      break;
    case 'h': help_report(); return 0;
    default: fprintf(stderr, "Try 'coord report --help'.\n"); return 2;
    }
  if (optind != argc - 1) {
    iov_err("coord report: expected one RUN directory. Try 'coord report --help'.");
    return 2;
  }
  return iov_coord_report(argv[optind], format) < 0 ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    help_main();
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    help_main();
    return 0;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("coord (iovbench) %s\n", IOV_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help-plan") == 0 || strcmp(cmd, "--help-plan") == 0) {
    iov_plan_help(stdout, iov_engine_plan_workloads());
    return 0;
  }
  /* Subcommand parsing starts after the command word. */
  argc--;
  argv++;
  if (strcmp(cmd, "run") == 0) return cmd_run(argc, argv);
  if (strcmp(cmd, "validate") == 0) return cmd_validate(argc, argv);
  if (strcmp(cmd, "report") == 0) return cmd_report(argc, argv);
  if (strcmp(cmd, "keygen") == 0) return cmd_keygen(argc, argv);
  if (strcmp(cmd, "plot") == 0) return iov_coord_plot(argc, argv);
  if (strcmp(cmd, "compare") == 0) return iov_coord_compare(argc, argv);
  iov_err("unknown command '%s'. Try 'coord --help'.", cmd);
  return 2;
}
