/*
 * cvode_reference.c - hand-written SUNDIALS CVODE reference for the foundation benchmark.
 *
 * Problem: two-compartment PK model with a depot (amounts in mg, time in h)
 *   d depot/dt   = -KA*depot
 *   d central/dt =  KA*depot - (CL/V)*central - (Q/V)*central + (Q/V2)*periph + rate(t)
 *   d periph/dt  =  (Q/V)*central - (Q/V2)*periph
 * CL = 4.5 L/h, V = 58.4 L, Q = 6.5 L/h, V2 = 38.4 L, KA = 1.0 1/h.
 * Dosing: 1000 mg infused into central over 1 h every 12 h, 14 doses (t = 0, 12, ..., 156 h).
 * Output: central/V (mg/L) at t = 0, 1, ..., 168 h (169 points).
 *
 * Solver: CVODE BDF, Newton iteration, dense linear solver, CVODE's internal
 * difference-quotient Jacobian, rtol = atol = 1e-8, at most 100000 steps per CVode call.
 * The integration is split at every discontinuity of the infusion rate (infusion starts
 * and ends): CVodeReInit at the start of each segment, CVodeSetStopTime at its end, and
 * one CVode(tout, CV_NORMAL) call per output time inside the segment.  The CVODE memory,
 * vector, matrix and linear solver are created once and reused for every subject.
 *
 * Usage: cvode_reference [--subjects N] [--repeat R] [--print]
 *   Subject 0 has the typical parameters; subject i > 0 has CL_i = CL*exp(eta1) and
 *   V_i = V*exp(eta2), eta ~ N(0, 0.09) (variance 0.09, SD 0.3), drawn from a
 *   deterministic splitmix64 + Box-Muller generator seeded by the subject index.
 */

#define _POSIX_C_SOURCE 199309L

#include <cvodes/cvodes.h>
#include <errno.h>
#include <math.h>
#include <nvector/nvector_serial.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sundials/sundials_config.h>
#include <sundials/sundials_context.h>
#include <sundials/sundials_types.h>
#include <sunlinsol/sunlinsol_dense.h>
#include <sunmatrix/sunmatrix_dense.h>
#include <time.h>

/* ---- problem definition ------------------------------------------------------------- */

#define NSTATE 3
#define DEPOT 0
#define CENTRAL 1
#define PERIPH 2

static const double kCL = 4.5;  /* L/h */
static const double kV = 58.4;  /* L */
static const double kQ = 6.5;   /* L/h */
static const double kV2 = 38.4; /* L */
static const double kKA = 1.0;  /* 1/h */

static const double kDoseAmount = 1000.0; /* mg per dose */
static const double kInfDuration = 1.0;   /* h */
static const double kDoseInterval = 12.0; /* h */
#define NDOSES 14
static const double kEndTime = 168.0; /* h */
#define NOUT 169                      /* outputs at t = 0, 1, ..., 168 h */

static const double kRtol = 1e-8;
static const double kAtol = 1e-8; /* mg */
static const long kMaxSteps = 100000;

static const double kOmegaSd = 0.3; /* sqrt(0.09) */

/* Discontinuities of the infusion rate: 0, every infusion start and end, and the end time. */
#define MAXBREAKS (2 * NDOSES + 2)

typedef struct {
  double cl, v, q, v2, ka; /* individual parameters */
  double rate;             /* infusion rate into central for the current segment, mg/h */
  long nrhs;               /* number of RHS calls (incl. difference-quotient Jacobian) */
} Params;

typedef struct {
  double tbreak[MAXBREAKS]; /* sorted, unique segment boundaries */
  double rate[MAXBREAKS];   /* rate[i] applies on (tbreak[i], tbreak[i+1]) */
  int nbreak;
  double tout[NOUT];
} Schedule;

typedef struct {
  long steps, rhs, jac;
} Stats;

static int cmp_double(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static void build_schedule(Schedule* s) {
  double dose_start[NDOSES];
  int n = 0;
  for (int d = 0; d < NDOSES; ++d) dose_start[d] = d * kDoseInterval;

  s->tbreak[n++] = 0.0;
  for (int d = 0; d < NDOSES; ++d) {
    s->tbreak[n++] = dose_start[d];
    s->tbreak[n++] = dose_start[d] + kInfDuration;
  }
  s->tbreak[n++] = kEndTime;
  qsort(s->tbreak, (size_t)n, sizeof(double), cmp_double);

  /* Remove duplicates and anything outside [0, kEndTime]. */
  int m = 0;
  for (int i = 0; i < n; ++i) {
    const double t = s->tbreak[i];
    if (t < 0.0 || t > kEndTime) continue;
    if (m > 0 && t == s->tbreak[m - 1]) continue;
    s->tbreak[m++] = t;
  }
  s->nbreak = m;

  /* Total infusion rate on each segment (handles overlapping infusions too). */
  for (int i = 0; i + 1 < m; ++i) {
    double r = 0.0;
    for (int d = 0; d < NDOSES; ++d) {
      if (dose_start[d] <= s->tbreak[i] && dose_start[d] + kInfDuration >= s->tbreak[i + 1]) {
        r += kDoseAmount / kInfDuration;
      }
    }
    s->rate[i] = r;
  }

  for (int k = 0; k < NOUT; ++k) s->tout[k] = (double)k;
}

static int rhs(sunrealtype t, N_Vector y, N_Vector ydot, void* user_data) {
  (void)t;
  Params* p = (Params*)user_data;
  const sunrealtype* x = N_VGetArrayPointer(y);
  sunrealtype* dx = N_VGetArrayPointer(ydot);
  const double k10 = p->cl / p->v;
  const double k12 = p->q / p->v;
  const double k21 = p->q / p->v2;
  dx[DEPOT] = -p->ka * x[DEPOT];
  dx[CENTRAL] = p->ka * x[DEPOT] - k10 * x[CENTRAL] - k12 * x[CENTRAL] + k21 * x[PERIPH] + p->rate;
  dx[PERIPH] = k12 * x[CENTRAL] - k21 * x[PERIPH];
  p->nrhs++;
  return 0;
}

/* ---- deterministic inter-individual variability ------------------------------------- */

static uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Uniform on (0, 1): 53 random bits, offset by half an ulp so 0 is never returned. */
static double uniform01(uint64_t* state) {
  return ((double)(splitmix64(state) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static void subject_params(long subject, Params* p) {
  double eta1 = 0.0, eta2 = 0.0;
  if (subject > 0) {
    uint64_t state = 0x6D656474776E0000ULL ^ (uint64_t)subject; /* "medtwn" ^ index */
    const double u1 = uniform01(&state);
    const double u2 = uniform01(&state);
    const double r = sqrt(-2.0 * log(u1));
    const double two_pi = 6.283185307179586476925286766559;
    eta1 = kOmegaSd * r * cos(two_pi * u2);
    eta2 = kOmegaSd * r * sin(two_pi * u2);
  }
  p->cl = kCL * exp(eta1);
  p->v = kV * exp(eta2);
  p->q = kQ;
  p->v2 = kV2;
  p->ka = kKA;
  p->rate = 0.0;
  p->nrhs = 0;
}

/* ---- CVODE driver --------------------------------------------------------------------- */

static void check_flag(int flag, const char* what, long subject, double t) {
  if (flag < 0) {
    fprintf(stderr, "cvode_reference: %s failed with flag %d (subject %ld, t = %g)\n", what, flag,
            subject, t);
    exit(EXIT_FAILURE);
  }
}

static void check_ptr(const void* ptr, const char* what) {
  if (ptr == NULL) {
    fprintf(stderr, "cvode_reference: %s returned NULL\n", what);
    exit(EXIT_FAILURE);
  }
}

static void simulate_subject(void* mem, N_Vector y, Params* p, const Schedule* s, long subject,
                             double* cp, Stats* stats) {
  sunrealtype* x = N_VGetArrayPointer(y);
  x[DEPOT] = 0.0;
  x[CENTRAL] = 0.0;
  x[PERIPH] = 0.0;
  stats->steps = stats->rhs = stats->jac = 0;

  int k = 0;
  if (s->tout[0] == s->tbreak[0]) cp[k++] = x[CENTRAL] / p->v;

  for (int i = 0; i + 1 < s->nbreak; ++i) {
    const double t0 = s->tbreak[i];
    const double t1 = s->tbreak[i + 1];
    p->rate = s->rate[i];

    check_flag(CVodeReInit(mem, t0, y), "CVodeReInit", subject, t0);
    check_flag(CVodeSetStopTime(mem, t1), "CVodeSetStopTime", subject, t0);

    sunrealtype tret = t0;
    while (k < NOUT && s->tout[k] <= t1) {
      check_flag(CVode(mem, s->tout[k], y, &tret, CV_NORMAL), "CVode", subject, s->tout[k]);
      cp[k++] = x[CENTRAL] / p->v;
    }
    if (tret < t1) { /* segment end is not an output time */
      check_flag(CVode(mem, t1, y, &tret, CV_NORMAL), "CVode", subject, t1);
    }

    long nst = 0, nfe = 0, nfels = 0, nje = 0;
    check_flag(CVodeGetNumSteps(mem, &nst), "CVodeGetNumSteps", subject, t1);
    check_flag(CVodeGetNumRhsEvals(mem, &nfe), "CVodeGetNumRhsEvals", subject, t1);
    check_flag(CVodeGetNumLinRhsEvals(mem, &nfels), "CVodeGetNumLinRhsEvals", subject, t1);
    check_flag(CVodeGetNumJacEvals(mem, &nje), "CVodeGetNumJacEvals", subject, t1);
    stats->steps += nst;
    stats->rhs += nfe + nfels;
    stats->jac += nje;
  }
  if (k != NOUT) {
    fprintf(stderr, "cvode_reference: internal error, %d of %d outputs produced\n", k, NOUT);
    exit(EXIT_FAILURE);
  }
  if (stats->rhs != p->nrhs) {
    fprintf(stderr, "cvode_reference: RHS count mismatch (CVODE %ld, counted %ld)\n", stats->rhs,
            p->nrhs);
    exit(EXIT_FAILURE);
  }
}

static long parse_positive(const char* opt, const char* value) {
  if (value == NULL) {
    fprintf(stderr, "cvode_reference: %s needs a value\n", opt);
    exit(EXIT_FAILURE);
  }
  char* end = NULL;
  errno = 0;
  const long v = strtol(value, &end, 10);
  if (errno != 0 || end == value || *end != '\0' || v <= 0) {
    fprintf(stderr, "cvode_reference: invalid value for %s: '%s'\n", opt, value);
    exit(EXIT_FAILURE);
  }
  return v;
}

static double now_seconds(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
    perror("cvode_reference: clock_gettime");
    exit(EXIT_FAILURE);
  }
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char** argv) {
  long nsubjects = 1;
  long nrepeat = 1;
  int print = 0;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--subjects") == 0) {
      nsubjects = parse_positive(argv[i], i + 1 < argc ? argv[i + 1] : NULL);
      ++i;
    } else if (strcmp(argv[i], "--repeat") == 0) {
      nrepeat = parse_positive(argv[i], i + 1 < argc ? argv[i + 1] : NULL);
      ++i;
    } else if (strcmp(argv[i], "--print") == 0) {
      print = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      printf("usage: %s [--subjects N] [--repeat R] [--print]\n", argv[0]);
      return EXIT_SUCCESS;
    } else {
      fprintf(stderr, "cvode_reference: unknown argument '%s'\n", argv[i]);
      fprintf(stderr, "usage: %s [--subjects N] [--repeat R] [--print]\n", argv[0]);
      return EXIT_FAILURE;
    }
  }

  Schedule sched;
  build_schedule(&sched);

  /* ---- one-time CVODE setup, reused for every subject and repeat ---- */
  SUNContext ctx = NULL;
#if SUNDIALS_VERSION_MAJOR >= 7
  check_flag(SUNContext_Create(SUN_COMM_NULL, &ctx), "SUNContext_Create", -1, 0.0);
#else
  check_flag(SUNContext_Create(NULL, &ctx), "SUNContext_Create", -1, 0.0);
#endif
  N_Vector y = N_VNew_Serial(NSTATE, ctx);
  check_ptr(y, "N_VNew_Serial");
  N_VConst(0.0, y);

  void* mem = CVodeCreate(CV_BDF, ctx);
  check_ptr(mem, "CVodeCreate");
  check_flag(CVodeInit(mem, rhs, 0.0, y), "CVodeInit", -1, 0.0);
  check_flag(CVodeSStolerances(mem, kRtol, kAtol), "CVodeSStolerances", -1, 0.0);
  check_flag(CVodeSetMaxNumSteps(mem, kMaxSteps), "CVodeSetMaxNumSteps", -1, 0.0);

  SUNMatrix A = SUNDenseMatrix(NSTATE, NSTATE, ctx);
  check_ptr(A, "SUNDenseMatrix");
  SUNLinearSolver LS = SUNLinSol_Dense(y, A, ctx);
  check_ptr(LS, "SUNLinSol_Dense");
  check_flag(CVodeSetLinearSolver(mem, LS, A), "CVodeSetLinearSolver", -1, 0.0);
  /* No CVodeSetJacFn: CVODE uses its internal difference-quotient Jacobian. */

  Params params;
  check_flag(CVodeSetUserData(mem, &params), "CVodeSetUserData", -1, 0.0);

  double cp[NOUT];
  double cp0[NOUT];
  Stats stats0 = {0, 0, 0};
  double steps_sum = 0.0;
  double checksum = 0.0;

  const double start = now_seconds();
  for (long r = 0; r < nrepeat; ++r) {
    for (long s = 0; s < nsubjects; ++s) {
      Stats st;
      subject_params(s, &params);
      simulate_subject(mem, y, &params, &sched, s, cp, &st);
      if (r == 0) {
        steps_sum += (double)st.steps;
        if (s == 0) {
          stats0 = st;
          memcpy(cp0, cp, sizeof cp);
        }
      }
      checksum += cp[NOUT - 1];
    }
  }
  const double seconds = now_seconds() - start;

  if (print) {
    printf("time,cp\n");
    for (int k = 0; k < NOUT; ++k) printf("%.17g,%.17g\n", sched.tout[k], cp0[k]);
  }

  const double runs = (double)nsubjects * (double)nrepeat;
  printf(
      "cvode_reference subjects=%ld repeat=%ld seconds=%.6f us_per_subject=%.3f steps=%ld rhs=%ld "
      "jac=%ld mean_steps=%.1f checksum=%.12g\n",
      nsubjects, nrepeat, seconds, 1e6 * seconds / runs, stats0.steps, stats0.rhs, stats0.jac,
      steps_sum / (double)nsubjects, checksum / (double)nrepeat);

  SUNLinSolFree(LS);
  SUNMatDestroy(A);
  N_VDestroy(y);
  CVodeFree(&mem);
  SUNContext_Free(&ctx);
  return EXIT_SUCCESS;
}
